"""Running the Alembic revisions from code: the CLI, `serve` and the tests share this."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.config import PROJECT_ROOT
from app.domain.numbers import whole_number

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _with_connection(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


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
