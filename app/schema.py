"""Running the Alembic revisions from code: the CLI, `serve` and the tests share this."""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app import resources
from app.db import Database

MIGRATIONS_DIR = resources.MIGRATIONS
# Any fixed number of our own, the same in every process ("eyeball" in ASCII).
MIGRATION_LOCK = 0x657965_62616C6C


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _with_connection(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Servers started together (several hosts, or a migrate job beside `serve`)
            # take turns, the lock held until this transaction ends: the next one finds
            # the schema where the first left it instead of creating the same tables.
            # SQLite needs nothing: its writer lock already lets one in at a time.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    _with_connection(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    _with_connection(engine, "downgrade", revision)


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
