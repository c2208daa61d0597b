"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

The schema is built once per backend by the Alembic revisions (never create_all).
Each test runs inside an outer transaction that is rolled back; the code under test
commits savepoints. In CI (CI=true) or with EYEBALL_REQUIRE_ALL=1, a missing
PostgreSQL or Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app import schema
from app.config import SECRET_FILE_NAME, Settings
from app.db import Database, make_engine
from app.domain.imports.demo import SIGN_INS_FILE
from app.domain.projects.access import ProjectAccess, get_access
from app.main import create_app
from app.models import Prediction
from tests.checkout import CHECKOUT
from tests.factories import (
    PASSWORD,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.hashing import use_cheap_hashing
from tests.media_stores import MEDIA_BACKENDS, S3Server, media_settings, start_s3_server
from tests.routes import url

REQUIRE_ALL = os.environ.get("CI") == "true" or os.environ.get("EYEBALL_REQUIRE_ALL") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "EYEBALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
OUTPUT_DIR = CHECKOUT / "test-output"

# Before any test runs: fixture users and sign-ins would otherwise each cost a
# production-strength argon2 hash.
use_cheap_hashing()


def unavailable(reason: str) -> None:
    """Skip locally; fail where the full suite is required (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (required because CI=true or EYEBALL_REQUIRE_ALL=1)")
    pytest.skip(reason)


def _postgres_problem() -> str | None:
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means "not available"
        return f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}"
    finally:
        engine.dispose()
    return None


class PostgresDatabases:
    """Creates uniquely named databases and drops them afterwards."""

    def __init__(self) -> None:
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"eyeball_test_{secrets.token_hex(5)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    problem = _postgres_problem()
    if problem:
        unavailable(problem)
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


BACKENDS = ["sqlite", "postgresql"]


def new_database_url(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / f'eyeball-{secrets.token_hex(4)}.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return databases.create()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_engine(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    url = new_database_url(backend, request, tmp_path_factory.mktemp(backend))
    engine = make_engine(url)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of the current backend (for migration tests)."""
    return new_database_url(backend, request, tmp_path)


@pytest.fixture
def connection(migrated_engine: Engine) -> Iterator[Connection]:
    with migrated_engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def database(migrated_engine: Engine, connection: Connection) -> Database:
    return Database(migrated_engine, bind=connection)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.writer() as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-" + "x" * 32)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    yield from start_s3_server(free_port())


@pytest.fixture(params=MEDIA_BACKENDS)
def media_backend(request: pytest.FixtureRequest) -> str:
    """For tests that take it: run once with each media store."""
    return str(request.param)


@pytest.fixture
def stored_settings(media_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings with the media in the local folder, then in a bucket of its own."""
    return media_settings(media_backend, tmp_path / "data", request)


@pytest.fixture(scope="session")
def built_apps() -> dict[tuple[object, ...], tuple[FastAPI, dict[str, Any]]]:
    return {}


@pytest.fixture
def app(
    settings: Settings,
    database: Database,
    backend: str,
    built_apps: dict[tuple[object, ...], tuple[FastAPI, dict[str, Any]]],
) -> FastAPI:
    """What create_app(settings, database) gives, built once per backend.

    FastAPI works out every route's dependencies on an app's first request, which cost a
    short test more than the test itself. What differs between tests lives in app.state,
    so each test gets the built app with a state of its own: its settings, its database
    and the default background runner. The middleware keeps the signing key and cookie
    flags it was built with, so settings that differ there get an app of their own.
    """
    key = (
        backend,
        settings.secret_key,
        settings.https,
        settings.session_max_age,
        # The Content-Security-Policy names the store's origin when images redirect there.
        settings.media_signed_urls and settings.s3_endpoint_url,
    )
    if key not in built_apps:
        built = create_app(settings, database)
        built_apps[key] = (built, dict(built.state._state))
    shared, first_state = built_apps[key]
    settings.ensure_dirs()
    shared.state = State({**first_state, "settings": settings, "database": database})
    return shared


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def csrf_token(client: TestClient) -> str:
    """The token the sign-in page hands out (it also sets the matching cookie)."""
    page = client.get(url(client, "sign_in"))
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    if match is None:  # already signed in: the projects page carries it too
        page = client.get("/")
        match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_token(client)
    return client.post(
        url(client, "sign_in_submit"),
        data={"username": username, "password": password, "csrftoken": token, "next": "/"},
    )


# --- a real server in a subprocess, for browser and quick-start tests ---------------


# `eyeball` for servers and commands started by tests: the real CLI with cheap hashing.
EYEBALL = [sys.executable, "-m", "tests.eyeball_cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sqlite_server(tmp_path: Path) -> Iterator[tuple[str, Database, int]]:
    """A server in this process on a fresh SQLite database with a two-person project."""
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    database = Database.from_url(settings.database_url)
    schema.upgrade(database.engine)
    with database.transaction() as session:
        lead, other = make_user(session, "lead"), make_user(session, "ann")
        project_id = make_project(session, lead, annotators=[other]).id
    try:
        with serving(create_app(settings, database)) as base_url:
            yield base_url, database, project_id
    finally:
        database.dispose()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread of this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for start-up, not standing in for synchronisation
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class LiveServer:
    def __init__(self, base_url: str, data_dir: Path, process: subprocess.Popen[str], log: Path):
        self.base_url = base_url
        self.data_dir = data_dir
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    data_dir: Path,
    *,
    args: list[str] | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 90,
    cwd: Path = CHECKOUT,
) -> LiveServer:
    """Start `eyeball serve` (or `command`) and wait until /healthz answers.

    The server hashes passwords cheaply, as the suite does (tests/eyeball_cli.py); only a
    `command` such as `make run` runs the production command.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    full_env = {
        **os.environ,
        "EYEBALL_DATA_DIR": str(data_dir),
        "EYEBALL_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = command or [*EYEBALL, "serve", "--port", str(port), *(args or [])]
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{server.output()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        # Polling a subprocess for readiness, not standing in for synchronisation.
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server did not answer /healthz in {timeout}s:\n{server.output()}")


class DemoData:
    """A data folder with the demo loaded by `eyeball demo`, made once per run.

    Importing the demo's 1,000 images takes a while; a server test copies this folder
    and serves the copy with `--demo`, which finds the demo loaded, as a second
    `make run` does. tests/test_quickstart.py still imports it from scratch.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def copy_to(self, data_dir: Path) -> Path:
        """A private copy at `data_dir`, without the key: each server signs with its own
        (cookies do not tell ports apart, so a shared key would let one server's
        sign-in cookie work on another)."""
        shutil.copytree(
            self.folder, data_dir, ignore=shutil.ignore_patterns(SECRET_FILE_NAME, "*.log")
        )
        return data_dir


def _build_demo_data(folder: Path) -> None:
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"EYEBALL_DATABASE_URL", "EYEBALL_MEDIA_DIR"}
    }
    loaded = subprocess.run(
        [*EYEBALL, "demo"],
        cwd=CHECKOUT,
        env={**env, "EYEBALL_DATA_DIR": str(building)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert loaded.returncode == 0, f"`eyeball demo` failed:\n{loaded.stdout}{loaded.stderr}"
    assert (building / "eyeball.db").exists()
    assert (building / SIGN_INS_FILE).exists()
    # The command has exited, so SQLite has checkpointed its write-ahead log into the
    # file: a plain copy is a consistent database. Renamed last, so a folder under the
    # final name is always complete.
    building.rename(folder)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    # Under xdist every worker's base temp sits in one folder of this run, so the first
    # worker to get here builds the demo and the others wait for it (pytest-xdist's
    # recipe for a once-per-run fixture). Without xdist that parent is shared by earlier
    # runs, so the build stays in this run's own base temp.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "demo-data"
    with (root / "demo-data.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.exists():
            _build_demo_data(folder)
    return DemoData(folder)


@pytest.fixture(scope="session")
def demo_server(
    tmp_path_factory: pytest.TempPathFactory, demo_data: DemoData
) -> Iterator[LiveServer]:
    data_dir = demo_data.copy_to(tmp_path_factory.mktemp("demo-server") / "data")
    server = start_server(data_dir, args=["--demo"])
    yield server
    server.stop()


# --- Playwright with Debian's Chromium ------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return os.environ.get("EYEBALL_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """Where a browser test saves what it saw (kept after the run for people to look at)."""
    folder = OUTPUT_DIR / "screenshots" / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def world(session: Session) -> tuple[ProjectAccess, ProjectAccess, Prediction]:
    """A lead's and an annotator's access to a project with one error (cat read as dog)."""
    lead, annotator = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[annotator], labels=["cat", "dog", "fox"])
    run = make_run(session, project)
    prediction = make_prediction(
        session, run, make_sample(session, project, label="cat"), label="dog"
    )
    return (
        get_access(session, lead, project.id),
        get_access(session, annotator, project.id),
        prediction,
    )
