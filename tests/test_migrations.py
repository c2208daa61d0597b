"""The revisions build the schema the models describe, and undo it, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import schema
from app.db import Base, make_engine


def test_upgrade_to_head_matches_models_and_downgrades_to_empty(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations differ: {diff}"

        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        leftover = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert leftover == set()

        schema.upgrade(engine)  # and back up again: the downgrade left nothing behind
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
