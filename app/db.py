"""The declarative base, engines and sessions.

SQLite is the embedded default and PostgreSQL the production database; both get the
same schema from Alembic and the same code paths here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Named constraints keep Alembic revisions stable and downgrades possible.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Execution option read by the SQLite "begin" hook: read-only requests start a
# deferred transaction so they never queue behind writers.
READ_ONLY = "eyeball_read_only"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 30_000, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": sqlite_busy_timeout_ms / 1000, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # PostgreSQL compiles a query to machine code once its estimated cost passes
        # jit_above_cost, which counts rows, not time: a facet recount of 10,000 errors
        # spent 2.3 s compiling a statement that then ran in 30 ms. Eyeball's queries
        # are short and each is planned anew, so the compiling never pays.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    # SQLite lets one writer in at a time. Writers of this process queue for it on a
    # lock of ours, woken the moment it is free: SQLite's own busy handler polls with
    # sleeps that grow to 100 ms, so under a long write (a large import) or a burst of
    # saves, a waiting save slept on long after the lock was free. Other processes
    # (the CLI) still wait under busy_timeout.
    writing = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (SQLAlchemy's
        # documented recipe); otherwise SAVEPOINT and BEGIN IMMEDIATE do not work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes cannot wait for the lock: SQLite
        # fails it at once with "database is locked". Writers therefore take the
        # lock up front (IMMEDIATE) and wait their turn.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        # The same failure as SQLite's after busy_timeout, never a wait without end.
        if not writing.acquire(timeout=busy_timeout_ms / 1000):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked"))
        conn.info[_HOLDS_WRITE_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(holder: Any) -> None:
        # `holder`: a Connection or its pool record; both share the `info` dict.
        if holder.info.pop(_HOLDS_WRITE_LOCK, False):
            writing.release()

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        if not conn.invalidated:  # else the "invalidate" hook below gave it back
            _release(conn)

    # A connection given back, or dropped, while in a transaction (the pool rolls it
    # back without telling the engine) must not keep the lock.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _release(record)


_HOLDS_WRITE_LOCK = "eyeball_holds_write_lock"


class Database:
    """An engine with its two session factories: read-only and read-write."""

    def __init__(
        self, engine: Engine, *, bind: Connection | None = None, pinned: Connection | None = None
    ) -> None:
        self.engine = engine
        # The one connection every session of this database uses, if it has one.
        self.connection = bind if bind is not None else pinned
        if bind is not None:
            # Tests: every session joins the test's outer transaction as a savepoint,
            # so the code under test commits as usual and the test still rolls back.
            self.writer = sessionmaker(
                bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            self.reader = self.writer
            return
        if pinned is not None:
            # Each transaction begins and ends on the connection (a writer's, on SQLite:
            # reads through it wait for the write lock too).
            self.writer = sessionmaker(bind=pinned, expire_on_commit=False)
            self.reader = self.writer
            return
        self.writer = sessionmaker(engine, expire_on_commit=False)
        self.reader = sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @classmethod
    def from_url(cls, url: str, *, sqlite_busy_timeout_ms: int = 30_000) -> Database:
        return cls(make_engine(url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session committed on success and rolled back on error (CLI, background work)."""
        factory = self.reader if read_only else self.writer
        with factory() as session, session.begin():
            yield session

    @contextmanager
    def pinned(self) -> Iterator[Database]:
        """This database through one connection for the block: for work that keeps
        state on its connection from one transaction to the next (SQLite's TEMP
        tables). A database on one connection already (the tests') is itself."""
        if self.connection is not None:
            yield self
            return
        with self.engine.connect() as connection:
            yield Database(self.engine, pinned=connection)

    def dispose(self) -> None:
        self.engine.dispose()
