"""The production path without a Docker engine: the compose file is valid Compose and has
what a team needs, and the image's start-up sequence (migrate once, then several workers)
serves the review, live updates, imports and metrics on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jsonschema_rs
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import metrics
from app.config import Settings
from app.db import Database
from app.domain.accounts.users import create_token, get_user_by_username, revoke_token
from app.models import Prediction, Run
from tests.checkout import CHECKOUT
from tests.conftest import PostgresDatabases, start_server
from tests.factories import (
    PASSWORD,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.importing import csv_bytes, image_rows, images_for, zip_bytes
from tests.test_live import listening, next_event, signed_in
from tests.web.test_review import save_url, token_of

COMPOSE_FILE = CHECKOUT / "docker-compose.yml"
DOCKERFILE = CHECKOUT / "Dockerfile"
COMPOSE_SCHEMA = CHECKOUT / "tests" / "vendor" / "compose-spec.json"
WORKERS = 3
# The media settings the object-store half of issue 17 reads; the compose file passes them.
MEDIA_SETTINGS = {
    "EYEBALL_MEDIA_BACKEND",
    "EYEBALL_S3_ENDPOINT_URL",
    "EYEBALL_S3_BUCKET",
    "EYEBALL_S3_ACCESS_KEY_ID",
    "EYEBALL_S3_SECRET_ACCESS_KEY",
    "EYEBALL_S3_REGION",
}


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_compose_file_follows_the_compose_schema() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema_rs.validator_for(schema)
    problems = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert problems == []


def test_the_schema_check_would_catch_a_mistake() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["db"]["healthcheck"]["intervall"] = "5s"
    assert not jsonschema_rs.validator_for(schema).is_valid(broken)


def test_the_compose_file_is_what_a_team_needs() -> None:
    spec = compose()
    services = spec["services"]
    db = services["db"]
    assert re.fullmatch(r"postgres:\d+", db["image"]), "PostgreSQL pinned to a major version"
    data_volume = db["volumes"][0].split(":")[0]
    assert data_volume in spec["volumes"], "the database lives in a named volume"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    migrate, app = services["migrate"], services["app"]
    assert migrate["command"] == ["eyeball", "db", "upgrade"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    # The workers start only once the one migration run has finished well.
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["image"] == migrate["image"]
    assert "EYEBALL_WORKERS" in app["environment"]
    assert set(app["environment"]) >= MEDIA_SETTINGS
    assert set(migrate["environment"]) >= MEDIA_SETTINGS

    # The object store is there only when asked for.
    assert services["minio"]["profiles"] == ["s3"]
    assert services["minio-bucket"]["profiles"] == ["s3"]
    assert set(services) - {"minio", "minio-bucket"} == {"db", "migrate", "app"}


def test_the_image_installs_the_wheel_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(bases) == 2, "a build stage and a run stage"
    assert all(re.fullmatch(r"python:3\.\d+-slim", base) for base in bases)
    assert "pip wheel" in text
    assert re.search(r"pip install .*--no-index .*eyeball", text)
    user = re.search(r"^USER (\S+)", text, flags=re.M)
    assert user is not None
    assert user.group(1) not in {"root", "0"}
    command = re.search(r"^CMD (.+)$", text, flags=re.M)
    assert command is not None
    assert json.loads(command.group(1)) == compose()["services"]["app"]["command"]


def _installed(command: list[str]) -> list[str]:
    """The compose command, with `eyeball` as this environment installed it."""
    assert command[0] == "eyeball"
    return [str(Path(sys.executable).parent / "eyeball"), *command[1:]]


def _metrics(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(base_url + "/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _signed_in_afresh(base_url: str, username: str) -> httpx.Client:
    """Signed in, opening a new connection per request: the kernel then hands each to
    whichever worker accepts first, so one person's requests go to several workers."""
    client = httpx.Client(
        base_url=base_url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    )
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    response = client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrftoken": token.group(1), "next": "/"},
    )
    assert response.status_code == 303
    return client


def _claim_and_save(client: httpx.Client, project_id: int, cause_id: int) -> str:
    """Claim the next error on the review screen and tick a cause; the error's address."""
    claimed = client.get(f"/projects/{project_id}/review")
    assert claimed.status_code == 303
    page_url = str(claimed.headers["location"])
    page = client.get(page_url)
    assert page.status_code == 200
    saved = client.post(
        save_url(page_url),
        data={"version": "0", "cause": [str(cause_id)]},
        headers={"x-csrftoken": token_of(page.text), "HX-Request": "true"},
    )
    assert saved.status_code == 200, saved.text
    return page_url


@pytest.mark.slow
def test_migrations_started_together_take_turns(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    # Two hosts (or a migrate job and a server) upgrading one empty database at once.
    env = {
        **os.environ,
        "EYEBALL_DATABASE_URL": postgres.create(),
        "EYEBALL_DATA_DIR": str(tmp_path),
    }
    command = _installed(compose()["services"]["migrate"]["command"])
    runs = [
        subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
    assert len({output.strip() for output in outputs}) == 1  # all at the same revision


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_images_start_up_serves_three_workers_on_postgresql(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    services = compose()["services"]
    url = postgres.create()
    data_dir = tmp_path / "data"
    env = {
        "EYEBALL_DATABASE_URL": url,
        "EYEBALL_SECRET_KEY": "k" * 40,
        "EYEBALL_WORKERS": str(WORKERS),
        "EYEBALL_DATA_DIR": str(data_dir),
    }
    # The `migrate` service, then the `app` service, as the image runs them.
    migrated = subprocess.run(
        _installed(services["migrate"]["command"]),
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    database = Database.from_url(url)
    with database.transaction() as session:
        lead, ann, bob = (make_user(session, name) for name in ("lead", "ann", "bob"))
        project = make_project(session, lead, annotators=[ann, bob], labels=["cat", "dog"])
        run = make_run(session, project, name="r1")
        for i in range(4):
            sample = make_sample(session, project, external_id=f"s{i}", label="cat")
            make_prediction(session, run, sample, label="dog", review_order=i)
        cause_id = make_cause(session, project, "Blurry", key="1").id
        project_id = project.id
        issued = create_token(session, lead, "script")
        secret, token_id = issued.secret, issued.token.id

    server = start_server(
        data_dir,
        command=_installed(services["app"]["command"]),
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    try:
        assert httpx.get(server.base_url + "/readyz").json() == {"status": "ready"}
        annotators = {name: _signed_in_afresh(server.base_url, name) for name in ("ann", "bob")}

        with (
            listening(signed_in(server.base_url, "lead"), project_id) as first,
            listening(signed_in(server.base_url, "lead"), project_id) as second,
            listening(signed_in(server.base_url, "ann"), project_id) as third,
        ):
            gauge = ("eyeball_live_subscribers", ())
            assert _metrics(server.base_url)[gauge] == 3

            # Queue leases across workers: two annotators never get the same error.
            ann_error = _claim_and_save(annotators["ann"], project_id, cause_id)
            bob_error = _claim_and_save(annotators["bob"], project_id, cause_id)
            assert ann_error != bob_error
            # Every open page hears both saves, whichever worker holds its stream.
            for events in (first, second):
                heard = {next_event(events, "annotation", within=5)["annotator"] for _ in "ab"}
                assert heard == {ann.id, bob.id}
            # An annotator's stream hears both too, without whose they were (blind review).
            told = [next_event(third, "annotation", within=5) for _ in "ab"]
            assert all("annotator" not in event for event in told)

        # Sign-ins are the database's, not a worker's: one sign-out ends it everywhere.
        cookies = dict(annotators["bob"].cookies)
        page = annotators["bob"].get("/")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
        assert token is not None
        signed_out = annotators["bob"].post("/sign-out", data={"csrftoken": token.group(1)})
        assert signed_out.status_code == 303
        for _ in range(WORKERS * 2):
            replay = httpx.get(server.base_url + "/", cookies=cookies)
            assert replay.status_code == 303
            assert replay.headers["location"].startswith("/sign-in")

        # Two imports into one project at once, through different connections: the
        # database lets one write at a time, and both land whole.
        api = {"Authorization": f"Bearer {secret}"}
        outcomes: dict[str, int] = {}

        def push(run_name: str) -> None:
            rows = image_rows(6, 3, prefix=run_name)
            response = httpx.post(
                f"{server.base_url}/api/v1/projects/{project_id}/import",
                headers=api,
                files={
                    "manifest": ("m.csv", csv_bytes(rows), "text/csv"),
                    "images": ("images.zip", zip_bytes(images_for(rows)), "application/zip"),
                },
                data={"run": run_name},
                timeout=120,
            )
            outcomes[run_name] = response.status_code

        pushes = [threading.Thread(target=push, args=(name,)) for name in ("v2", "v3")]
        for thread in pushes:
            thread.start()
        for thread in pushes:
            thread.join(timeout=150)
        assert outcomes == {"v2": 200, "v3": 200}
        with database.transaction(read_only=True) as session:
            counts = dict(
                session.execute(
                    select(Run.name, func.count(Prediction.id))
                    .join(Prediction, Prediction.run_id == Run.id)
                    .where(Run.project_id == project_id)
                    .group_by(Run.name)
                ).all()
            )
        assert counts == {"r1": 4, "v2": 6, "v3": 6}

        # A revoked token stops working on every worker at once.
        with database.transaction() as session:
            owner = get_user_by_username(session, "lead")
            assert owner is not None
            revoke_token(session, owner, token_id)
        for _ in range(WORKERS * 2):
            assert httpx.get(f"{server.base_url}/api/v1/projects", headers=api).status_code == 401

        # The figures are every worker's added up.
        figures = _metrics(server.base_url)
        assert figures[("eyeball_annotations_saved_total", ())] == 2
        assert figures[("eyeball_imports_total", (("outcome", "imported"),))] == 2
        assert figures[("eyeball_live_subscribers", ())] == 0
    finally:
        server.stop()
        database.dispose()

    log = server.output()
    assert "Child process died" not in log
    assert log.count("Application startup complete") == WORKERS
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {line["route"] for line in lines} >= {
        "/projects/{project_id}/review",
        "/api/v1/projects/{project_id}/import",
    }
    assert len({line["pid"] for line in lines}) > 1, "requests were served by several workers"
    assert PASSWORD not in log
    assert secret not in log


def test_the_deploy_guide_lists_every_metric_and_only_real_settings() -> None:
    guide = (CHECKOUT / "docs" / "deploy.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*\| `(eyeball_[a-z_]+)", guide, flags=re.M))
    exposed = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(metrics.exposition().decode())
        # The `_created` timestamps that prometheus_client adds in one process are not ours.
        if family.name.startswith("eyeball_") and not family.name.endswith("_created")
    }
    assert documented == exposed
    named = set(re.findall(r"`(EYEBALL_[A-Z0-9_]+)`", guide))
    settings = {f"EYEBALL_{name.upper()}" for name in Settings.model_fields}
    compose_only = {"EYEBALL_BIND", "EYEBALL_HTTP_PORT", "EYEBALL_VERSION"}
    # The media settings belong to the object-store half of issue 17.
    assert named - settings - compose_only - MEDIA_SETTINGS == set()
