"""Each run's stored verdicts added up per facet (a true label, a predicted label, a
metadata value) and per cause within it, so that the footer of a sheet filtered by one
of those reads a row instead of summing the slice.

Backfilled by `app.domain.verdicts.recount_facets`, so a filtered footer shows the same
figures after the upgrade as before it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 08:41:15.399179
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_facet_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("facet", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("in_progress", sa.Integer(), nullable=False),
        sa.Column("unsure", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("partial", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("adjudicated", sa.Integer(), nullable=False),
        sa.Column("label_errors", sa.Integer(), nullable=False),
        sa.Column("pair_errors", sa.Integer(), nullable=False),
        sa.Column("pair_values", sa.Integer(), nullable=False),
        sa.Column("label_coincidences", sa.Float(), nullable=False),
        sa.Column("label_marks", sa.Integer(), nullable=False),
        sa.Column("label_unanimous", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_run_facet_verdicts_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "facet", "key", "value", name=op.f("pk_run_facet_verdicts")
        ),
    )
    op.create_table(
        "run_facet_cause_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("facet", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("values", sa.Integer(), nullable=False),
        sa.Column("coincidences", sa.Float(), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        sa.Column("unanimous", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cause_id"],
            ["cause.id"],
            name=op.f("fk_run_facet_cause_verdicts_cause_id_cause"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_run_facet_cause_verdicts_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "facet", "key", "value", "cause_id", name=op.f("pk_run_facet_cause_verdicts")
        ),
    )

    from app.domain import verdicts

    session = Session(bind=op.get_bind())  # joins the migration's transaction
    verdicts.recount_facets(session)
    session.flush()
    session.close()


def downgrade() -> None:
    op.drop_table("run_facet_cause_verdicts")
    op.drop_table("run_facet_verdicts")
