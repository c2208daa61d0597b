"""Running the Alembic revisions from code: the CLI, `serve` and the tests share this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app import resources
from app.db import Database
from app.domain.numbers import whole_number

MIGRATIONS_DIR = resources.MIGRATIONS
# Any fixed number of our own, the same in every process ("eyeball" in ASCII).
MIGRATION_LOCK = 0x657965_62616C6C


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _with_connection(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection, tables_rebuilt_safely(connection), connection.begin():
        if connection.dialect.name == "postgresql":
            # Servers started together (several hosts, or a migrate job beside `serve`)
            # take turns, the lock held until this transaction ends: the next one finds
            # the schema where the first left it instead of creating the same tables.
            # SQLite needs nothing: its writer lock already lets one in at a time.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)  # migrations/env.py checks the keys


class BrokenForeignKeys(RuntimeError):
    """Revisions that left rows pointing at rows that are not there (SQLite)."""


@contextmanager
def tables_rebuilt_safely(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off while the revisions run; `check_foreign_keys` then
    checks every row before they commit.

    A revision in batch mode rebuilds a table on SQLite: it copies the table, drops the
    old one and renames the copy. With foreign keys on, that DROP first deletes every
    row, and the deletes cascade to every row pointing at them: rebuilding `prediction`
    would delete every annotation. SQLite's own recipe for altering a table turns them
    off the same way, outside the transaction, the only place SQLite lets them change.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    assert not connection.in_transaction(), "foreign keys change outside a transaction only"
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL checked each row as it went
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise BrokenForeignKeys(
            f"{len(broken)} row(s) of {', '.join(tables)} point at rows that are not there"
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    _with_connection(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    _with_connection(engine, "downgrade", revision)


@dataclass(frozen=True)
class Undone:
    """A revision a downgrade would undo: what it added is dropped, with its data."""

    revision: str
    summary: str


class UnknownTarget(ValueError):
    """A downgrade target that is not `base`, `-N` or a revision below the current one."""


def downgrade_plan(engine: Engine, target: str) -> list[Undone]:
    """The revisions `downgrade(engine, target)` would undo, newest first, each with the
    first paragraph of its docstring (what it added, so what undoing it drops)."""
    script = ScriptDirectory.from_config(alembic_config())
    applied = []
    revision = current_revision(engine)
    while revision is not None:
        step = script.get_revision(revision)
        assert step is not None
        applied.append(step)
        down = step.down_revision
        revision = down if isinstance(down, str) or down is None else down[0]
    ids = [step.revision for step in applied]
    if target == "base":
        count = len(applied)
    elif target.startswith("-") and (steps := whole_number(target[1:])) is not None:
        count = steps
        if count > len(applied):
            raise UnknownTarget(
                f"The database has {len(applied)} revision(s) applied; it cannot go down {count}."
            )
    elif target in ids:
        count = ids.index(target)
    else:
        raise UnknownTarget(
            f"{target!r} is not a revision applied to this database: give 'base', '-N' "
            f"(N revisions down) or one of {', '.join(ids) or 'none'}."
        )
    return [Undone(step.revision, " ".join(step.doc.split())) for step in applied[:count]]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@lru_cache
def _head() -> str | None:
    # The revision files are those the process started with: read them once.
    return head_revision()


def not_ready(database: Database) -> str | None:
    """Why this server cannot serve yet, or None: the database must answer and be at the
    revision the code was written for."""
    try:
        # A read transaction: on SQLite it never waits behind a writer.
        with database.reader() as session:
            current = MigrationContext.configure(session.connection()).get_current_revision()
    except SQLAlchemyError as exc:
        return f"The database does not answer ({exc.__class__.__name__})."
    head = _head()
    if current != head:
        return (
            f"The database is at revision {current or 'none'}, the code needs {head}: "
            "run `eyeball db upgrade`."
        )
    return None
