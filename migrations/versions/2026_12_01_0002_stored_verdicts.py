"""Stored verdicts: each annotated error's status, consensus and agreement counts, and
each run's sums of them.

Backfilled by the domain's own rule (`app.domain.verdicts.rebuild`), so existing runs
read the same figures after the upgrade as before it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:36:13.767288
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "error_verdict",
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("examined", sa.Boolean(), nullable=False),
        sa.Column("label_error", sa.Boolean(), nullable=False),
        sa.Column("suggested_label", sa.String(length=255), nullable=True),
        sa.Column("disagreement", sa.Boolean(), nullable=False),
        sa.Column("cause_count", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Integer(), nullable=False),
        sa.Column("label_error_marks", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["prediction.id"],
            name=op.f("fk_error_verdict_prediction_id_prediction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_error_verdict_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_error_verdict")),
    )
    with op.batch_alter_table("error_verdict", schema=None) as batch_op:
        batch_op.create_index("ix_error_verdict_run_status", ["run_id", "status"], unique=False)

    op.create_table(
        "verdict_cause",
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cause_id"],
            ["cause.id"],
            name=op.f("fk_verdict_cause_cause_id_cause"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["error_verdict.prediction_id"],
            name=op.f("fk_verdict_cause_prediction_id_error_verdict"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", "cause_id", name=op.f("pk_verdict_cause")),
    )
    with op.batch_alter_table("verdict_cause", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verdict_cause_cause_id"), ["cause_id"], unique=False)
        batch_op.create_index("ix_verdict_cause_run_cause", ["run_id", "cause_id"], unique=False)

    op.create_table(
        "run_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "queued",
                "in_progress",
                "unsure",
                "skipped",
                "partial",
                "done",
                "adjudicated",
                "label_errors",
                "pair_errors",
                "pair_values",
            )
        ),
        sa.Column("label_coincidences", sa.Float(), nullable=False),
        sa.Column("label_marks", sa.Integer(), nullable=False),
        sa.Column("label_unanimous", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_verdicts_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_verdicts")),
    )
    op.create_table(
        "run_cause_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
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
            name=op.f("fk_run_cause_verdicts_cause_id_cause"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_run_cause_verdicts_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "cause_id", name=op.f("pk_run_cause_verdicts")),
    )

    # The one rule, not a copy of it in SQL: the verdicts are what the sheet computed
    # before this revision. The session joins the migration's transaction.
    from app.domain import verdicts

    session = Session(bind=op.get_bind())
    verdicts.rebuild(session, facets=False)  # their sums come with 0013
    session.flush()
    session.close()


def downgrade() -> None:
    op.drop_table("run_cause_verdicts")
    op.drop_table("run_verdicts")
    with op.batch_alter_table("verdict_cause", schema=None) as batch_op:
        batch_op.drop_index("ix_verdict_cause_run_cause")
        batch_op.drop_index(batch_op.f("ix_verdict_cause_cause_id"))

    op.drop_table("verdict_cause")
    with op.batch_alter_table("error_verdict", schema=None) as batch_op:
        batch_op.drop_index("ix_error_verdict_run_status")

    op.drop_table("error_verdict")
