"""POST /api/v1/projects/{id}/import: the import for notebooks and scripts."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token
from app.models import Prediction, Project, Sample, SampleKind, User
from tests.conftest import sign_in
from tests.factories import make_project, make_user
from tests.importing import csv_bytes, image_rows, images_for, jsonl_bytes, zip_bytes
from tests.routes import url


def bearer(session: Session, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(session, user, 'nb').secret}"}


def post_import(
    client: TestClient,
    project: Project,
    headers: dict[str, str],
    manifest: bytes,
    *,
    images: bytes | None = None,
    name: str = "preds.csv",
    **fields: Any,
) -> Any:
    files = {"manifest": (name, manifest, "text/csv")}
    if images is not None:
        files["images"] = ("images.zip", images, "application/zip")
    return client.post(
        url(client, "api_import", project_id=project.id),
        headers=headers,
        files=files,
        data={k: str(v) for k, v in fields.items()},
    )


def stored(session: Session, project: Project) -> tuple[int, int]:
    samples = session.scalar(
        select(func.count()).select_from(Sample).where(Sample.project_id == project.id)
    )
    predictions = session.scalar(
        select(func.count()).select_from(Prediction).where(Prediction.project_id == project.id)
    )
    return samples or 0, predictions or 0


def test_a_lead_imports_a_run_and_gets_its_summary(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    rows = image_rows(20, 8)
    response = post_import(
        client,
        project,
        bearer(session, lead),
        csv_bytes(rows),
        images=zip_bytes(images_for(rows)),
        run="resnet-v1",
        sample_errors=5,
        seed=3,
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    # The phases its progress went through, as the import page and the CLI show them.
    phases = summary.pop("phases")
    assert [(p["phase"], p["items"]) for p in phases] == [
        ("reading", 20),
        ("checking_images", 20),
        ("saving", 20),
    ]
    assert all(p["seconds"] >= 0 for p in phases)
    assert summary == {
        "run": "resnet-v1",
        "rows": 20,
        "samples_created": 20,
        "samples_updated": 0,
        "predictions_created": 20,
        "errors": 8,
        "evaluated": 20,
        "error_rate": 0.4,
        "queued_for_review": 5,
        "seed": 3,
    }
    assert stored(session, project) == (20, 20)

    again = post_import(
        client,
        project,
        bearer(session, lead),
        csv_bytes(rows),
        images=zip_bytes(images_for(rows)),
        run="resnet-v1",
        sample_errors=5,
        seed=3,
    )
    assert again.json()["samples_created"] == again.json()["predictions_created"] == 0
    assert again.json()["phases"] == [], "the same upload again is answered without reading it"
    assert stored(session, project) == (20, 20)


def test_errors_only_with_evaluated_and_the_default_run_name(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, kind=SampleKind.TEXT)
    rows = [{"id": f"t{i}", "label": "spam", "prediction": "ham", "text": "hi"} for i in range(3)]
    response = post_import(
        client, project, bearer(session, lead), jsonl_bytes(rows), name="bert-7.jsonl", evaluated=60
    )
    body = response.json()
    assert (body["run"], body["errors"], body["evaluated"], body["error_rate"]) == (
        "bert-7",
        3,
        60,
        0.05,
    )
    unknown = post_import(
        client, project, bearer(session, lead), jsonl_bytes(rows), name="x.jsonl", run="bert-8"
    )
    assert unknown.json()["error_rate"] is None


def test_bad_input_is_a_422_listing_every_problem(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    rows = image_rows(4, 2)
    rows[0]["confidence"] = 2
    rows[2]["label"] = "lynx"
    response = post_import(
        client, project, bearer(session, lead), csv_bytes(rows), images=zip_bytes(images_for(rows))
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Nothing was imported: 2 problems to fix first.",
        "problems": [
            {"line": 2, "column": "confidence", "message": "2 is outside 0..1"},
            {
                "line": 4,
                "column": "label",
                "message": "'lynx' is not one of the project's labels (cat, dog)",
            },
        ],
    }
    assert stored(session, project) == (0, 0)
    not_a_number = post_import(
        client, project, bearer(session, lead), csv_bytes(rows), evaluated="many"
    )
    assert not_a_number.status_code == 422
    assert "evaluated" in not_a_number.json()["detail"]


def test_only_leads_import_and_only_with_a_token(client: TestClient, session: Session) -> None:
    lead, ann, stranger = (make_user(session, n) for n in ("lead", "ann", "stranger"))
    project = make_project(session, lead, annotators=[ann])
    rows = image_rows(2, 1)
    manifest, images = csv_bytes(rows), zip_bytes(images_for(rows))

    as_annotator = post_import(client, project, bearer(session, ann), manifest, images=images)
    assert as_annotator.status_code == 403
    assert as_annotator.json() == {"detail": "Only the project's leads can do this."}
    as_stranger = post_import(client, project, bearer(session, stranger), manifest, images=images)
    assert as_stranger.status_code == 404
    assert post_import(client, project, {}, manifest, images=images).status_code == 401
    # A signed-in browser may read the API but never write through it (no CSRF there).
    sign_in(client, "lead")
    assert post_import(client, project, {}, manifest, images=images).status_code == 401
    assert stored(session, project) == (0, 0)


def test_an_archived_project_takes_no_import(client: TestClient, session: Session) -> None:
    from app.models import utcnow

    lead = make_user(session, "lead")
    project = make_project(session, lead)
    project.archived_at = utcnow()
    session.flush()
    rows = image_rows(2, 1)
    response = post_import(
        client, project, bearer(session, lead), csv_bytes(rows), images=zip_bytes(images_for(rows))
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "The project is archived: it is read-only until a lead restores it."
    }
    assert stored(session, project) == (0, 0)
