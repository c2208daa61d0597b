"""Each annotator's reviews in each run, added up, for the dashboard; and an index for
its "finished in the last hour".

Backfilled by `app.domain.verdicts.recount_reviews`, so the dashboard reads the same
figures after the upgrade as before it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:58:44.466597
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_annotator_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Integer(), nullable=False),
        sa.Column("label_errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f("fk_run_annotator_verdicts_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_run_annotator_verdicts_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "annotator_id", name=op.f("pk_run_annotator_verdicts")),
    )
    op.create_table(
        "run_annotator_cause_verdicts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f("fk_run_annotator_cause_verdicts_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cause_id"],
            ["cause.id"],
            name=op.f("fk_run_annotator_cause_verdicts_cause_id_cause"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_run_annotator_cause_verdicts_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "annotator_id", "cause_id", name=op.f("pk_run_annotator_cause_verdicts")
        ),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_annotation_project_updated", ["project_id", "updated_at"], unique=False
        )

    from app.domain import verdicts

    session = Session(bind=op.get_bind())  # joins the migration's transaction
    verdicts.recount_reviews(session)
    session.flush()
    session.close()


def downgrade() -> None:
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_project_updated")

    op.drop_table("run_annotator_cause_verdicts")
    op.drop_table("run_annotator_verdicts")
