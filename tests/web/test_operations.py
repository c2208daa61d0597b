"""Liveness, readiness, metrics and the request log, as an operator meets them."""

from __future__ import annotations

import gc
import io
import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app import schema
from app.config import Settings
from app.db import Database
from app.domain.accounts.users import create_token
from app.domain.imports.manifests import Limits
from app.domain.imports.pipeline import ImportOptions, ImportRefused, Upload, run_import
from app.main import create_app
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_project, make_user
from tests.importing import csv_bytes, database_of, image_rows, images_for, zip_media
from tests.media_stores import store_of
from tests.routes import url
from tests.web.test_review import World, open_next, post, save_url, token_of, world

__all__ = ["world"]  # the review screen's fixture, used below

METRICS_TOKEN = "metrics-" + "t" * 32
LOCAL = ("127.0.0.1", 50000)


def _app(tmp_path: Path, database_url: str, **settings: str) -> TestClient:
    """A client of an app of its own, without its start-up (no live-update listener)."""
    config = Settings(data_dir=tmp_path / "data", database_url=database_url, **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, Database.from_url(database_url)), client=LOCAL)


def test_healthz_answers_while_the_database_does_not(tmp_path: Path) -> None:
    # Nothing listens on port 1: every connection is refused at once.
    client = _app(tmp_path, "postgresql+psycopg://eyeball@127.0.0.1:1/eyeball")
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert "does not answer" in ready.json()["reason"]


def test_readyz_wants_the_newest_revision(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'behind.db'}"
    database = Database.from_url(database_url)
    schema.upgrade(database.engine)
    schema.downgrade(database.engine, "-1")
    behind = schema.current_revision(database.engine)
    database.dispose()
    client = _app(tmp_path, database_url)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert f"at revision {behind}" in ready.json()["reason"]
    assert "eyeball db upgrade" in ready.json()["reason"]

    database = Database.from_url(database_url)
    schema.upgrade(database.engine)
    database.dispose()
    assert client.get("/readyz").json() == {"status": "ready"}


def test_a_running_app_keeps_its_own_objects_out_of_the_cycle_collectors_walks(
    tmp_path: Path,
) -> None:
    """A full collection walking the app's 200,000 objects paused every request thread
    for over 100 ms during an image import (bench/RESULTS.md); frozen at start-up, they
    are not walked."""
    database_url = f"sqlite:///{tmp_path / 'frozen.db'}"
    database = Database.from_url(database_url)
    schema.upgrade(database.engine)
    database.dispose()
    with _app(tmp_path, database_url) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000


def test_readyz_on_the_suites_migrated_database(client: TestClient) -> None:
    response = client.get(url(client, "readyz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def _metrics(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_are_for_this_machine_or_the_token(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'm.db'}"
    database = Database.from_url(database_url)
    schema.upgrade(database.engine)
    database.dispose()

    local = _app(tmp_path, database_url)
    assert local.get("/metrics").status_code == 200
    remote = TestClient(local.app, client=("203.0.113.9", 50000))
    refused = remote.get("/metrics")
    assert refused.status_code == 403
    assert "EYEBALL_METRICS_TOKEN" in refused.text

    guarded = _app(tmp_path, database_url, metrics_token=METRICS_TOKEN)
    # With a token set, being local is not enough.
    assert guarded.get("/metrics").status_code == 403
    wrong = guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    remote = TestClient(guarded.app, client=("203.0.113.9", 50000))
    right = remote.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status_code == 200


def test_metrics_count_requests_by_route_template_and_saves(
    client: TestClient, world: World
) -> None:
    local = TestClient(client.app, client=LOCAL, follow_redirects=False)
    before = _metrics(local)
    sign_in(local, "ann")
    page_url, page = open_next(local, world.project)
    status, _, _ = post(local, save_url(page_url), token_of(page), {"version": 0, "cause": []})
    assert status == 200
    after = _metrics(local)

    saved = ("eyeball_annotations_saved_total", ())
    assert after[saved] - before.get(saved, 0) == 1
    route = "/projects/{project_id}/runs/{run_name}/annotation/{external_id}"
    key = ("eyeball_http_requests_total", (("method", "POST"), ("route", route), ("status", "200")))
    assert after[key] - before.get(key, 0) == 1
    # The latency histogram has the same route, and no label holds an id or a name.
    timed = ("eyeball_http_request_duration_seconds_count", (("method", "POST"), ("route", route)))
    assert after[timed] - before.get(timed, 0) == 1
    assert not any("s0" in dict(labels).get("route", "") for _, labels in after)


def test_metrics_count_imports_by_outcome(
    client: TestClient, session: Session, settings: Settings
) -> None:
    local = TestClient(client.app, client=LOCAL)
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    rows = image_rows(3, 1)
    before = _metrics(local)

    def attempt(manifest: bytes) -> None:
        run_import(
            database_of(session),
            project.id,
            Upload(io.BytesIO(manifest), "m.csv", zip_media(images_for(rows))),
            ImportOptions(run="v1"),
            store_of(settings),
            limits=Limits(),
        )

    attempt(csv_bytes(rows))
    with pytest.raises(ImportRefused):
        attempt(csv_bytes([{**rows[0], "label": ""}]))
    after = _metrics(local)
    for outcome in ("imported", "refused"):
        key = ("eyeball_imports_total", (("outcome", outcome),))
        assert after[key] - before.get(key, 0) == 1


def test_one_json_line_per_request_without_secrets(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    ada = make_user(session, "ada")
    project = make_project(session, ada)
    secret = create_token(session, ada, "notebook").secret
    with caplog.at_level(logging.INFO, logger="eyeball.access"):
        sign_in(client, "ada")
        client.get(f"/projects/{project.id}?tab=runs")
        client.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"})
        client.get("/no/such/page")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "eyeball.access"]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/sign-in", 200),
        ("POST", "/sign-in", 303),
        ("GET", "/projects/{project_id}", 200),
        ("GET", "/api/v1/projects", 200),
        ("GET", "unmatched", 404),
    ]
    assert all(
        set(line) == {"method", "route", "status", "duration_ms", "user_id", "pid"}
        for line in lines
    )
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    # Whoever the request turned out to be: nobody before signing in, ada after, by id.
    assert [line["user_id"] for line in lines] == [None, None, ada.id, ada.id, None]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    cookies = [value for value in client.cookies.values() if value]
    assert cookies
    for leaked in [PASSWORD, secret, *cookies, "runs"]:
        assert leaked not in logged
