"""`eyeball backup` and `eyeball restore`, run as an operator would, against a server that
is running and writing: a project with causes, images, annotations and their history goes
out and comes back whole, on SQLite and on PostgreSQL; a snapshot taken mid-write holds
whole imports only, and every image it names."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, MetaData, create_engine, select

from app import backups, schema
from app.backups import MANIFEST
from app.db import Database
from app.domain.imports.media import blob_original_key
from app.domain.imports.store import files_in
from app.models import MediaBlob
from tests.checkout import CHECKOUT
from tests.conftest import EYEBALL, PostgresDatabases, start_server
from tests.factories import make_image
from tests.importing import png
from tests.media_stores import media_settings, store_of

pytestmark = pytest.mark.slow

LEAD_PASSWORD = "a long enough password"
BATCH = 3  # samples per push while the backup runs: one transaction each


@dataclass
class Installation:
    data_dir: Path
    database_url: str

    @property
    def env(self) -> dict[str, str]:
        return {"EYEBALL_DATA_DIR": str(self.data_dir), "EYEBALL_DATABASE_URL": self.database_url}

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    def eyeball(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*EYEBALL, *args],
            cwd=CHECKOUT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def engine(self) -> Engine:
        return create_engine(self.database_url)


NewInstallation = Callable[[str], Installation]


@pytest.fixture
def new_installation(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> NewInstallation:
    """Makes empty installations (a data folder and a database) of the current backend."""

    def make(name: str) -> Installation:
        if backend == "sqlite":
            return Installation(tmp_path / name, f"sqlite:///{tmp_path / name / 'eyeball.db'}")
        databases: PostgresDatabases = request.getfixturevalue("postgres")
        return Installation(tmp_path / name, databases.create())

    return make


def every_row(installation: Installation) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (the Alembic version included), in primary-key order."""
    engine = installation.engine()
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as connection:
            return {
                name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*(table.primary_key.columns or table.columns))
                    )
                ]
                for name, table in sorted(tables.tables.items())
            }
    finally:
        engine.dispose()


def media_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files_in(folder)}


class Api:
    def __init__(self, base_url: str, token: str, app: FastAPI) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.app = app

    def close(self) -> None:
        self.http.close()

    def path(self, name: str, **params: Any) -> str:
        return str(self.app.url_path_for(name, **params))

    def call(self, method: str, name: str, body: Any, **params: Any) -> Any:
        answer = self.http.request(method, self.path(name, **params), json=body)
        assert answer.status_code in {200, 201}, answer.text
        return answer.json()

    def push(self, project_id: int, run: str, first: int, count: int) -> None:
        samples = [
            {
                "id": f"s{i:04d}",
                "label": "cat",
                "prediction": "dog" if i % 2 else "cat",
                "confidence": 0.5,
                # A picture of its own per sample: each push stores new images.
                "image_base64": base64.b64encode(png(i % 256, (8 + i // 256, 8))).decode(),
            }
            for i in range(first, first + count)
        ]
        self.call(
            "POST", "api_push_predictions", {"samples": samples}, project_id=project_id, run=run
        )


def build_project(api: Api) -> int:
    """A project with causes, images, and annotations changed several times (history)."""
    project = api.call(
        "POST",
        "api_create_project",
        {"name": "Backed up", "kind": "image", "labels": ["cat", "dog"]},
    )
    project_id = int(project["id"])
    for name in ("blurry", "tiny"):
        api.call("POST", "api_create_cause", {"name": name}, project_id=project_id)
    api.push(project_id, "v1", 0, 8)
    for sample in ("s0001", "s0003", "s0005"):
        path = {"project_id": project_id, "run": "v1", "sample_id": sample}
        first = api.call("PUT", "api_annotate_error", {"causes": ["blurry"], "version": 0}, **path)
        api.call(
            "PUT",
            "api_annotate_error",
            {"causes": ["blurry", "tiny"], "status": "done", "version": first["version"]},
            **path,
        )
    return project_id


class Writer(threading.Thread):
    """Pushes batches into run `live` through the server until told to stop."""

    def __init__(self, api: Api, project_id: int) -> None:
        super().__init__(daemon=True)
        self.api, self.project_id = api, project_id
        self.batches = 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.api.push(self.project_id, "live", 1000 + self.batches * BATCH, BATCH)
                with self.changed:
                    self.batches += 1
                    self.changed.notify_all()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, batches: int) -> None:
        with self.changed:
            assert self.changed.wait_for(
                lambda: self.batches >= batches or self.failure is not None, timeout=120
            ), "the writer stalled"
        assert self.failure is None, self.failure


def live_predictions(installation: Installation) -> int:
    engine = installation.engine()
    try:
        tables = MetaData()
        tables.reflect(engine, only=["run", "prediction"])
        run, prediction = tables.tables["run"], tables.tables["prediction"]
        with engine.connect() as connection:
            live = connection.scalar(select(run.c.id).where(run.c.name == "live"))
            return len(
                connection.execute(select(prediction.c.id).where(prediction.c.run_id == live)).all()
            )
    finally:
        engine.dispose()


def test_backup_while_serving_and_restore_bring_everything_back(
    new_installation: NewInstallation, app: FastAPI, tmp_path: Path
) -> None:
    source = new_installation("source")
    assert source.eyeball("db", "upgrade").returncode == 0
    created = source.eyeball("user", "create", "lead", "--password", LEAD_PASSWORD, "--admin")
    assert created.returncode == 0, created.stderr
    token = source.eyeball("token", "create", "lead", "--name", "backup test")
    secret = token.stdout.strip().splitlines()[-1]
    server = start_server(source.data_dir, env=source.env)
    api = Api(server.base_url, secret, app)
    try:
        project_id = build_project(api)

        writer = Writer(api, project_id)
        writer.start()
        writer.wait_for(2)
        during = source.eyeball("backup", str(tmp_path / "during"))
        assert during.returncode == 0, during.stderr
        after_backup = writer.batches
        writer.wait_for(after_backup + 2)  # so the writing went on past the snapshot
        writer.stopping.set()
        writer.join(timeout=120)
        assert writer.failure is None, writer.failure

        quiet = source.eyeball("backup", str(tmp_path / "quiet"))
        assert quiet.returncode == 0, quiet.stderr
        assert "media files" in quiet.stdout
        final_rows, final_files = every_row(source), media_files(source.media)
    finally:
        api.close()
        server.stop()

    # The quiet backup: every row of every table and every media file, byte for byte.
    restored = new_installation("restored")
    done = restored.eyeball("restore", str(tmp_path / "quiet"))
    assert done.returncode == 0, done.stderr
    assert every_row(restored) == final_rows
    assert media_files(restored.media) == final_files
    assert final_rows["annotation_event"], "the history is in the comparison"
    assert len(final_rows["cause"]) == 2

    # The backup taken mid-write: whole pushes only, from some point of the writing, and
    # every image it names, with the right bytes.
    midway = new_installation("midway")
    assert midway.eyeball("restore", str(tmp_path / "during")).returncode == 0
    mid_rows = every_row(midway)
    live = live_predictions(midway)
    assert live % BATCH == 0
    assert 2 * BATCH <= live < live_predictions(source)
    # The rows the pushes only add to (a project and a run keep counters that move on).
    for table in ("cause", "sample", "media_blob", "annotation", "annotation_event"):
        # (JSON values come back as lists and dicts: rows compared, not hashed.)
        assert [r for r in mid_rows[table] if r not in final_rows[table]] == [], table
    mid_files = media_files(midway.media)
    stored = {key.split("/")[-1].split(".")[0] for key in mid_files if key.startswith("originals/")}
    blobs = {row[0] for row in mid_rows["media_blob"]}
    assert blobs <= stored, "a media row without its file"
    for key, data in mid_files.items():
        if key.startswith("originals/"):
            assert hashlib.sha256(data).hexdigest() in key

    # The restored installation serves: the same token, its images, and new rows (on
    # PostgreSQL the sequences came back too).
    server = start_server(restored.data_dir, env=restored.env)
    api = Api(server.base_url, secret, app)
    try:
        sha = final_rows["media_blob"][0][0]
        image = api.http.get(api.path("api_media_original", sha256=sha))
        assert image.status_code == 200
        assert hashlib.sha256(image.content).hexdigest() == sha
        api.push(project_id, "after", 5000, 2)
        api.call("POST", "api_create_cause", {"name": "new"}, project_id=project_id)
    finally:
        api.close()
        server.stop()


def test_restore_refuses_an_installation_that_is_not_empty(
    new_installation: NewInstallation, tmp_path: Path
) -> None:
    source = new_installation("source")
    assert source.eyeball("db", "upgrade").returncode == 0
    backup = tmp_path / "backup"
    assert source.eyeball("backup", str(backup)).returncode == 0
    assert (backup / MANIFEST).exists()

    again = source.eyeball("backup", str(backup))
    assert again.returncode == 1
    assert "not an empty folder" in again.stderr

    used = source.eyeball("restore", str(backup))
    assert used.returncode == 1
    assert "The database is not empty" in used.stderr
    assert "Traceback" not in used.stderr

    with_files = new_installation("with-files")
    (with_files.media / "originals" / "ab").mkdir(parents=True)
    (with_files.media / "originals" / "ab" / "left.png").write_bytes(b"x")
    refused = with_files.eyeball("restore", str(backup))
    assert refused.returncode == 1
    assert "holds files already" in refused.stderr

    nothing = with_files.eyeball("restore", str(tmp_path))
    assert nothing.returncode == 1
    assert "not a backup" in nothing.stderr


def test_with_s3_a_backup_holds_the_index_and_a_local_backup_moves_into_a_bucket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """In process and on SQLite: what differs here is the store, not the database."""
    in_bucket = media_settings("s3", tmp_path / "s3", request)
    on_disk = media_settings("local", tmp_path / "local", request)
    blobs = {}
    for settings in (in_bucket, on_disk):
        settings.ensure_dirs()
        database = Database.from_url(settings.database_url)
        schema.upgrade(database.engine)
        with database.transaction() as session:
            blobs[settings.media_backend] = make_image(session, store_of(settings)).sha256
        database.dispose()

    kept = backups.backup(in_bucket, tmp_path / "of-s3")
    assert kept.manifest["media"] == {
        "backend": "s3",
        "included": False,
        "bucket": in_bucket.s3_bucket,
        "endpoint_url": in_bucket.s3_endpoint_url,
        "files": 0,
    }
    assert not (tmp_path / "of-s3" / backups.MEDIA_FOLDER).exists()
    # Restored elsewhere, the index names the images the bucket still holds.
    elsewhere = media_settings("s3", tmp_path / "elsewhere", request, s3_bucket=in_bucket.s3_bucket)
    backups.restore(elsewhere, tmp_path / "of-s3")
    database = Database.from_url(elsewhere.database_url)
    with database.transaction(read_only=True) as session:
        blob = session.get_one(MediaBlob, blobs["s3"])
        assert store_of(elsewhere).exists(blob_original_key(blob))
    database.dispose()

    local = backups.backup(on_disk, tmp_path / "of-local")
    assert local.media_files == 2  # the original and its thumbnail
    into_bucket = media_settings("s3", tmp_path / "into-bucket", request)
    moved = backups.restore(into_bucket, tmp_path / "of-local")
    assert moved.media_files == 2
    originals = {
        p.relative_to(on_disk.media_path).as_posix(): p.read_bytes()
        for p in files_in(on_disk.media_path)
    }
    store = store_of(into_bucket)
    assert {key: store.read(key) for key in originals} == originals
