"""SQLite's writers queue on the process's lock: it is always given back, and a writer
that cannot have it fails as SQLite would, never waits without end."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import Database
from tests.conftest import PostgresDatabases


def counter_database(tmp_path: Path, busy_timeout_ms: int = 30_000) -> Database:
    database = Database.from_url(
        f"sqlite:///{tmp_path / 'writers.db'}", sqlite_busy_timeout_ms=busy_timeout_ms
    )
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    return database


def count(database: Database) -> int:
    with database.transaction(read_only=True) as session:
        return int(session.scalar(text("SELECT n FROM counter")) or 0)


def add_one(database: Database) -> None:
    with database.transaction() as session:
        session.execute(text("UPDATE counter SET n = n + 1"))


def test_writers_of_many_threads_each_get_their_turn(tmp_path: Path) -> None:
    database = counter_database(tmp_path)

    def write() -> None:
        for _ in range(25):
            add_one(database)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(database) == 200


def test_a_failed_or_abandoned_write_gives_the_lock_back(tmp_path: Path) -> None:
    database = counter_database(tmp_path, busy_timeout_ms=2_000)

    def fail() -> None:
        with database.transaction() as session:
            session.execute(text("UPDATE counter SET n = n + 1"))
            raise ValueError("the write fails")

    with pytest.raises(ValueError, match="the write fails"):
        fail()
    # A session closed in mid-transaction: the pool rolls it back.
    session = database.writer()
    session.execute(text("UPDATE counter SET n = n + 1"))
    session.close()
    # A connection dropped in mid-transaction.
    session = database.writer()
    session.execute(text("UPDATE counter SET n = n + 1"))
    session.connection().invalidate()
    session.rollback()
    session.close()
    add_one(database)  # would wait out the busy timeout and fail if the lock were kept
    assert count(database) == 1


def test_a_second_write_while_one_is_open_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    database = counter_database(tmp_path, busy_timeout_ms=200)
    with database.transaction() as session:
        session.execute(text("UPDATE counter SET n = n + 1"))
        with pytest.raises(OperationalError, match="database is locked"):
            add_one(database)
    add_one(database)
    assert count(database) == 2


def test_postgresql_connections_do_not_compile_queries(postgres: PostgresDatabases) -> None:
    """PostgreSQL's JIT spent seconds compiling statements that run in milliseconds (a
    facet recount: 2.3 s for a 30 ms query); every connection of the app has it off,
    a new one as a reused one."""
    database = Database.from_url(postgres.create())
    try:
        for _ in range(2):
            with database.transaction(read_only=True) as session:
                assert session.execute(text("SHOW jit")).scalar() == "off"
    finally:
        database.dispose()
