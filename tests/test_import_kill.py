"""A server killed in the middle of an import's write leaves nothing of it behind, and
the same import then succeeds."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from app import schema
from app.db import Database
from app.domain.accounts.users import create_token
from app.models import Prediction, Run, Sample, SampleKind
from tests.conftest import start_server
from tests.factories import make_project, make_user
from tests.importing import csv_bytes

ROWS = 60_000  # enough that the write takes a while on a fast machine too


def manifest() -> bytes:
    return csv_bytes(
        [
            {
                "id": f"t{i:06d}",
                "label": "cat",
                "prediction": "dog" if i % 10 == 0 else "cat",
                "text": f"sample {i}",
            }
            for i in range(ROWS)
        ]
    )


def writing(database_file: Path) -> bool:
    """Whether another connection holds SQLite's write lock (the import's write)."""
    probe = sqlite3.connect(database_file, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)  # polling another process's state, not standing in for a sync
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_kill_during_the_write_leaves_no_partial_run_and_the_import_then_succeeds(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_file = data_dir / "eyeball.db"
    database = Database.from_url(f"sqlite:///{database_file}")
    schema.upgrade(database.engine)
    with database.transaction() as session:
        lead = make_user(session, "lead")
        project_id = make_project(session, lead, kind=SampleKind.TEXT).id
        token = create_token(session, lead, "bench").secret
    body = manifest()
    path = f"/api/v1/projects/{project_id}/import"
    headers = {"Authorization": f"Bearer {token}"}

    def counts() -> list[int]:
        with database.transaction(read_only=True) as session:
            return [
                session.scalar(select(func.count()).select_from(t)) or 0
                for t in (Run, Sample, Prediction)
            ]

    server = start_server(data_dir)
    try:
        staging = data_dir / "media" / ".staging"

        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
                httpx.post(
                    server.base_url + path,
                    headers=headers,
                    files={"manifest": ("big.csv", body, "text/csv")},
                    data={"run": "v1"},
                    timeout=300,
                )

        sender = threading.Thread(target=send)
        sender.start()
        # Past the token check (a short write of its own): the import's check has begun.
        wait_for(lambda: staging.exists() and any(staging.iterdir()), "the import's check")
        wait_for(lambda: writing(database_file), "the import's write")
        server.process.kill()
        server.process.wait()
        sender.join()
    finally:
        server.stop()

    assert counts() == [0, 0, 0], "a killed import left rows behind"

    server = start_server(data_dir)
    try:
        done = httpx.post(
            server.base_url + path,
            headers=headers,
            files={"manifest": ("big.csv", body, "text/csv")},
            data={"run": "v1"},
            timeout=300,
        )
        assert done.status_code == 200, done.text
        assert (done.json()["rows"], done.json()["errors"]) == (ROWS, ROWS // 10)
    finally:
        server.stop()
    assert counts() == [1, ROWS, ROWS]
    database.dispose()
