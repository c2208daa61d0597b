"""Every way in is the one pipeline: the same input gives the same rows whichever way it
comes (the REST import, the REST push, the import page, and `run_import` itself, which
the command line and the demo call)."""

from __future__ import annotations

import io
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.pipeline import ImportOptions, Upload, run_import
from app.domain.imports.store import media_store
from app.models import Prediction, Project, Run, Sample, SampleKind
from tests.conftest import sign_in
from tests.factories import bearer, make_project, make_user
from tests.importing import csv_bytes, database_of
from tests.pages import attr, one, soup
from tests.routes import url
from tests.web.test_import_page import upload

ROWS = [
    {
        "id": f"m{i:02d}",
        "label": "spam",
        "prediction": "ham" if i % 3 == 0 else "spam",
        "confidence": 0.75,
        "text": f"message {i}",
        "sender": "bank" if i % 2 else "shop",
    }
    for i in range(14)
]


def pushed() -> list[dict[str, Any]]:
    return [
        {**{k: v for k, v in row.items() if k != "sender"}, "metadata": {"sender": row["sender"]}}
        for row in ROWS
    ]


def snapshot(session: Session, project: Project) -> dict[str, Any]:
    """What a project holds, without its ids: its run's counts and every sample's row."""
    session.expire_all()
    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    rows = session.execute(
        select(
            Sample.external_id,
            Sample.label,
            Sample.text,
            Sample.meta,
            Prediction.label.label("predicted"),
            Prediction.confidence,
            Prediction.is_error,
            Prediction.in_review,
            Prediction.review_order,
        )
        .join(Prediction, Prediction.sample_id == Sample.id)
        .where(Sample.project_id == project.id)
        .order_by(Sample.external_id)
    ).all()
    return {
        "run": (run.name, run.evaluated, run.errors, run.in_review),
        "rows": [tuple(r) for r in rows],
    }


def test_every_way_in_stores_the_same_rows(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    # The page's background work inline: in a thread it would interleave savepoints on
    # the test's one connection.
    app.state.run_in_background = lambda work: work()
    lead = make_user(session, "lead")
    api, push, page, domain = (
        make_project(session, lead, kind=SampleKind.TEXT, labels=["spam", "ham"], queue_seed=7)
        for _ in range(4)
    )
    headers = bearer(session, lead)
    manifest = csv_bytes(ROWS)

    imported = client.post(
        url(client, "api_import", project_id=api.id),
        headers=headers,
        files={"manifest": ("v1.csv", manifest, "text/csv")},
        data={"run": "v1"},
    )
    assert imported.status_code == 200, imported.text

    sent = client.post(
        url(client, "api_push_predictions", project_id=push.id, run="v1"),
        headers=headers,
        json={"samples": pushed()},
    )
    assert sent.status_code == 201, sent.text

    sign_in(client, "lead")
    checked = upload(client, page, manifest, run="v1")
    confirm = one(soup(client.get(checked.headers["location"]).text), "form.confirm-import")
    done = client.post(attr(confirm, "action"), data={"csrftoken": one(confirm, "input")["value"]})
    assert done.status_code == 303

    run_import(
        database_of(session),
        domain.id,
        Upload(io.BytesIO(manifest), "v1.csv"),
        ImportOptions(run="v1"),
        media_store(settings),
    )

    expected = snapshot(session, domain)
    assert expected["run"] == ("v1", 14, 5, 5)
    assert len(expected["rows"]) == 14
    for project in (api, push, page):
        assert snapshot(session, project) == expected
