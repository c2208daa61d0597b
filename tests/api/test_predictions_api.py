"""POST /api/v1/projects/{id}/runs/{run}/predictions: a notebook pushes predictions from memory."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import MediaBlob, Prediction, Project, Run, Sample, SampleKind, utcnow
from tests.conftest import sign_in
from tests.factories import bearer, make_project, make_run, make_user
from tests.importing import png
from tests.routes import url


def push(
    client: TestClient,
    project: Project,
    headers: dict[str, str],
    samples: list[dict[str, Any]],
    *,
    run: str = "v1",
    **fields: Any,
) -> Any:
    path = url(client, "api_push_predictions", project_id=project.id, run=run)
    return client.post(path, headers=headers, json={"samples": samples, **fields})


def stored(session: Session, project: Project) -> tuple[int, int]:
    samples = session.scalar(
        select(func.count()).select_from(Sample).where(Sample.project_id == project.id)
    )
    predictions = session.scalar(
        select(func.count()).select_from(Prediction).where(Prediction.project_id == project.id)
    )
    return samples or 0, predictions or 0


def texts(count: int, errors: int) -> list[dict[str, Any]]:
    """`count` spam messages, the first `errors` of them read as ham."""
    return [
        {
            "id": f"m{i}",
            "label": "spam",
            "prediction": "ham" if i < errors else "spam",
            "confidence": 0.75,
            "probs": {"spam": 0.25, "ham": 0.75} if i < errors else {"spam": 0.75, "ham": 0.25},
            "text": f"message {i}",
            "metadata": {"sender": "bank" if i % 2 else "shop"},
        }
        for i in range(count)
    ]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_lead_pushes_a_text_run_and_pushing_it_again_creates_nothing(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT, labels=["spam", "ham"])
    samples = texts(10, 4)
    samples[0]["length"] = 9  # a field not in the schema: kept as metadata

    first = push(client, project, bearer(session, lead), samples, sample_errors=3, seed=5)
    assert first.status_code == 201, first.text
    summary = first.json()
    # A push is read in full each time: its progress went through reading and saving.
    assert [(p["phase"], p["items"]) for p in summary.pop("phases")] == [
        ("reading", 10),
        ("saving", 10),
    ]
    assert summary == {
        "run": "v1",
        "rows": 10,
        "samples_created": 10,
        "samples_updated": 0,
        "predictions_created": 10,
        "errors": 4,
        "evaluated": 10,
        "error_rate": 0.4,
        "queued_for_review": 3,
        "seed": 5,
    }
    sample = session.scalar(
        select(Sample).where(Sample.project_id == project.id, Sample.external_id == "m0")
    )
    assert sample is not None
    assert (sample.text, sample.meta) == ("message 0", {"sender": "shop", "length": 9})

    again = push(client, project, bearer(session, lead), samples, sample_errors=3, seed=5)
    assert again.status_code == 200
    body = again.json()
    assert (body["samples_created"], body["predictions_created"], body["errors"]) == (0, 0, 4)
    assert stored(session, project) == (10, 10)


def test_errors_only_with_the_evaluated_count_and_labels_as_numbers(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.RECORD, labels=["0", "1", "7"])
    # A DataFrame of digits gives numbers, as a CSV manifest's cells would.
    samples = [
        {"id": 11, "label": 7, "prediction": 1, "record": {"strokes": 2}},
        {"id": 12, "label": 1, "prediction": 7, "record": {"strokes": 1}},
    ]
    response = push(client, project, bearer(session, lead), samples, evaluated=200, run="mlp")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["run"], body["errors"], body["evaluated"], body["error_rate"]) == (
        "mlp",
        2,
        200,
        0.01,
    )
    run = session.scalar(select(Run).where(Run.project_id == project.id, Run.name == "mlp"))
    assert run is not None
    assert run.evaluated == 200
    sample = session.scalar(
        select(Sample).where(Sample.project_id == project.id, Sample.external_id == "11")
    )
    assert sample is not None
    assert (sample.label, sample.record) == ("7", {"strokes": 2})


def test_an_image_project_takes_the_images_in_base64(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, labels=["cat", "dog"])
    samples = [
        {"id": f"c{i}", "label": "cat", "prediction": "dog" if i else "cat"}
        | {"image_base64": b64(png(colour=10 * i))}
        for i in range(3)
    ]
    response = push(client, project, bearer(session, lead), samples)
    assert response.status_code == 201, response.text
    assert response.json()["errors"] == 2
    hashes = session.scalars(
        select(Sample.image_sha256).where(Sample.project_id == project.id)
    ).all()
    assert len(set(hashes)) == 3
    blob = session.get(MediaBlob, hashes[0])
    assert blob is not None
    assert (blob.width, blob.height) == (8, 8)
    originals = list((settings.media_path / "originals").rglob("*.png"))
    assert len(originals) == 3
    assert push(client, project, bearer(session, lead), samples).status_code == 200
    assert stored(session, project) == (3, 3)


def test_every_problem_is_listed_by_the_samples_position(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT, labels=["spam", "ham"])
    samples = texts(5, 2)
    samples[1]["confidence"] = 2
    samples[3]["label"] = "eggs"
    samples[4]["id"] = "m0"
    del samples[2]["text"]
    samples[2]["metadata"] = {"prediction": "ham"}
    response = push(client, project, bearer(session, lead), samples, evaluated=3)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Nothing was imported: 6 problems to fix first.",
        "problems": [
            {
                "line": None,
                "column": "evaluated",
                "message": "3 evaluated samples, but the run would hold 5",
            },
            {"line": 2, "column": "confidence", "message": "2 is outside 0..1"},
            {
                "line": 3,
                "column": "metadata",
                "message": "'prediction' is not metadata: "
                "give it as the sample's 'prediction' field",
            },
            {"line": 3, "column": "text", "message": "the text is missing"},
            {
                "line": 4,
                "column": "label",
                "message": "'eggs' is not one of the project's labels (spam, ham)",
            },
            {"line": 5, "column": "id", "message": "the id 'm0' is repeated (first on line 1)"},
        ],
    }
    assert stored(session, project) == (0, 0)


def test_bad_images_are_numbered_problems(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, labels=["cat", "dog"])
    good = b64(png())
    samples = [
        {"id": "a", "label": "cat", "prediction": "dog", "image_base64": good},
        {"id": "b", "label": "cat", "prediction": "dog", "image_base64": "not base64!"},
        {"id": "c", "label": "cat", "prediction": "dog", "image_base64": b64(b"just text")},
        {"id": "d", "label": "cat", "prediction": "dog"},
        {"id": "e", "label": "cat", "prediction": "dog", "image_base64": good, "text": "hi"},
        {"id": "f", "label": "cat", "prediction": "dog", "image_base64": good, "image": "f.png"},
    ]
    response = push(client, project, bearer(session, lead), samples)
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"line": 2, "column": "image_base64", "message": "not valid base64 text of an image file"},
        {"line": 3, "column": "image_base64", "message": "not a readable image"},
        {
            "line": 4,
            "column": "image_base64",
            "message": "the image is missing (base64 of its file)",
        },
        {
            "line": 5,
            "column": "text",
            "message": "this is an image project: send the sample's image_base64, not text",
        },
        {
            "line": 6,
            "column": "metadata",
            "message": "'image' is not metadata: send the sample's media as image_base64",
        },
    ]
    assert stored(session, project) == (0, 0)
    assert session.scalar(select(func.count()).select_from(MediaBlob)) == 0


def test_run_latest_is_the_newest_run_and_needs_one(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    none_yet = push(client, project, bearer(session, lead), texts(2, 1), run="latest")
    assert none_yet.status_code == 404
    assert none_yet.json() == {"detail": "The project has no runs yet: name the new run instead."}
    make_run(session, project, name="old", evaluated=None)
    make_run(session, project, name="new", evaluated=None)
    response = push(client, project, bearer(session, lead), texts(2, 1), run="latest")
    assert response.status_code == 201
    assert response.json()["run"] == "new"


def test_empty_and_malformed_bodies_are_refused(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    headers = bearer(session, lead)
    empty = push(client, project, headers, [])
    assert empty.status_code == 422
    assert empty.json()["problems"] == [
        {"line": None, "column": "samples", "message": "send at least one sample"}
    ]
    not_a_number = push(client, project, headers, texts(1, 1), evaluated="many")
    assert not_a_number.status_code == 422
    assert "evaluated" in not_a_number.json()["detail"]
    path = url(client, "api_push_predictions", project_id=project.id, run="v1")
    broken = client.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert broken.status_code == 422
    assert set(broken.json()) == {"detail"}
    not_utf8 = client.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=b'{"\xff": 1}'
    )
    assert not_utf8.status_code == 422
    assert not_utf8.json() == {
        "detail": "The request body cannot be read: it is not UTF-8, or not in the format asked."
    }
    assert stored(session, project) == (0, 0)


def test_only_leads_push_and_only_with_a_token(client: TestClient, session: Session) -> None:
    lead, ann, other_lead = (make_user(session) for _ in range(3))
    admin = make_user(session, admin=True)
    project = make_project(session, lead, annotators=[ann], kind=SampleKind.TEXT)
    make_project(session, other_lead)

    as_annotator = push(client, project, bearer(session, ann), texts(2, 1))
    assert as_annotator.status_code == 403
    assert as_annotator.json() == {"detail": "Only the project's leads can do this."}
    assert push(client, project, bearer(session, other_lead), texts(2, 1)).status_code == 404
    anonymous = push(client, project, {}, texts(2, 1))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    revoked = {"Authorization": "Bearer eyb_not-a-token"}
    assert push(client, project, revoked, texts(2, 1)).status_code == 401
    # A signed-in browser may read the API but never write through it (no CSRF there).
    sign_in(client, lead.username)
    assert push(client, project, {}, texts(2, 1)).status_code == 401
    assert stored(session, project) == (0, 0)

    assert push(client, project, bearer(session, admin), texts(2, 1)).status_code == 201
    assert stored(session, project) == (2, 2)


def test_an_archived_project_takes_no_push(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    project.archived_at = utcnow()
    session.flush()
    response = push(client, project, bearer(session, lead), texts(2, 1))
    assert response.status_code == 403
    assert response.json() == {
        "detail": "The project is archived: it is read-only until a lead restores it."
    }
    assert stored(session, project) == (0, 0)


@pytest.fixture
def small_client(tmp_path: Path, database: Database) -> Iterator[TestClient]:
    """An app whose import limits are small enough to cross in a test."""
    settings = Settings(
        data_dir=tmp_path / "small",
        secret_key="test-secret-" + "x" * 32,
        max_zip_bytes=4000,
        max_zip_entries=5,
    )
    with TestClient(create_app(settings, database)) as client:
        yield client


def test_a_push_over_the_limits_is_refused_before_it_is_read(
    small_client: TestClient, session: Session
) -> None:
    client = small_client
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    headers = bearer(session, lead)
    too_many = push(client, project, headers, texts(6, 1))
    assert too_many.status_code == 422
    assert too_many.json()["problems"] == [
        {
            "line": None,
            "column": "samples",
            "message": "6 samples, over the limit of 5 per request: "
            "push them in batches into the same run",
        }
    ]
    big = [{**sample, "text": "x" * 1000} for sample in texts(5, 1)]
    declared = push(client, project, headers, big)
    assert declared.status_code == 413
    assert declared.json() == {
        "detail": "The request is over 4,000 bytes: push the samples in batches "
        "(each batch adds to the same run)."
    }
    # Without a Content-Length (chunked), the body is counted as it arrives.
    path = url(client, "api_push_predictions", project_id=project.id, run="v1")
    chunks = (b'{"samples": [' if i == 0 else b" " * 1000 for i in range(6))
    streamed = client.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=chunks
    )
    assert streamed.status_code == 413
    assert "push the samples in batches" in streamed.json()["detail"]
    assert push(client, project, headers, texts(5, 1)).status_code == 201


def test_nul_characters_are_refused_with_where_they_are_on_every_database(
    client: TestClient, session: Session
) -> None:
    # PostgreSQL cannot store a NUL in text: it must be refused before it gets there,
    # in metadata too (one rule for all text, app.domain.inputs).
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    for field, where in (("text", "samples.0.text"), ("id", "samples.0.id")):
        samples = texts(2, 1)
        samples[0][field] = "nul\x00here"
        response = push(client, project, bearer(session, lead), samples)
        assert response.status_code == 422, response.text
        assert where in response.json()["detail"]
        assert "NUL" in response.json()["detail"]
    samples = texts(2, 1)
    samples[1]["metadata"] = {"note": "a\x00b"}
    response = push(client, project, bearer(session, lead), samples)
    assert response.status_code == 422
    assert "samples.1.metadata.note" in response.json()["detail"]
    assert stored(session, project) == (0, 0)
