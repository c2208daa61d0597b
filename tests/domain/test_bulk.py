"""SQLite's staged rows (`bulk.stage`, `insert_staged`): written as `insert_rows` writes
them, and staged without the database's write lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select, update

from app import schema
from app.db import Database
from app.domain.imports.bulk import drop_staged, insert_rows, insert_staged, stage
from app.models import Project, Sample, utcnow
from tests.factories import make_project, make_user

SAMPLES = cast(Table, Sample.__table__)


def test_staged_rows_are_stored_as_insert_rows_stores_them_and_staging_locks_nothing(
    tmp_path: Path,
) -> None:
    # A short busy timeout: a write that had to wait for the staging would fail, not wait.
    database = Database.from_url(f"sqlite:///{tmp_path / 'e.db'}", sqlite_busy_timeout_ms=200)
    schema.upgrade(database.engine)
    with database.transaction() as session:
        project_id = make_project(session, make_user(session)).id
    now = utcnow()

    def rows(prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "project_id": project_id,
                "external_id": f"{prefix}{n}",
                "label": "cat" if n % 2 else "dog",
                "image_sha256": None,
                "text": f"text {n}" if n else None,
                "record": {"n": n, "tags": ["a", "ü"]} if n == 2 else None,
                "metadata": {"camera": "front", "n": n},
                "created_at": now,
                "updated_at": now,
            }
            for n in range(3)
        ]

    wrote_meanwhile: list[str] = []

    def while_staging(values: list[dict[str, Any]]) -> Any:
        for number, row in enumerate(values):
            if number == 1:
                # Someone saves while the rows are being staged: at once.
                with database.transaction() as other:
                    other.execute(update(Project).values(name="renamed"))
                wrote_meanwhile.append("saved")
            yield row

    with database.pinned() as pinned:
        assert pinned.connection is not None
        staged = stage(pinned.connection, SAMPLES, while_staging(rows("s")), count=3)
        assert wrote_meanwhile == ["saved"]
        try:
            with pinned.transaction() as session:
                staged_ids = insert_staged(session.connection(), staged)
        finally:
            drop_staged(pinned.connection, [staged])
    with database.transaction() as session:
        direct_ids = [
            i for _key, i in insert_rows(session.connection(), SAMPLES, rows("d"), "external_id")
        ]

    assert list(staged_ids) == [1, 2, 3]
    assert direct_ids == [4, 5, 6]
    with database.transaction(read_only=True) as session:
        stored = {s.external_id: s for s in session.scalars(select(Sample))}
        columns = ["label", "text", "record", "metadata", "created_at", "updated_at"]
        for n in range(3):
            staged_row, direct_row = stored[f"s{n}"], stored[f"d{n}"]
            assert staged_row.id == n + 1
            assert [getattr(staged_row, c) for c in columns] == [
                getattr(direct_row, c) for c in columns
            ]
        assert stored["s2"].record == {"n": 2, "tags": ["a", "ü"]}
        assert stored["s0"].created_at == now
    database.dispose()
