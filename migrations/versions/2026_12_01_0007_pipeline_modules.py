"""Pipelines of modules: a project's chain of modules, each blamed through a cause of
one group ("module to blame"), with the module's own and people's accuracy on its
sub-task. Two new tables; nothing existing changes, so nothing is backfilled.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:44:05.827217
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("design_cause_id", sa.Integer(), nullable=True),
        sa.Column("ambiguous_cause_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ambiguous_cause_id"],
            ["cause.id"],
            name=op.f("fk_pipeline_ambiguous_cause_id_cause"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["design_cause_id"],
            ["cause.id"],
            name=op.f("fk_pipeline_design_cause_id_cause"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["cause_group.id"],
            name=op.f("fk_pipeline_group_id_cause_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_pipeline_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_pipeline")),
    )
    op.create_table(
        "pipeline_module",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("human_accuracy", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "accuracy IS NULL OR (accuracy >= 0 AND accuracy <= 1)",
            name=op.f("ck_pipeline_module_accuracy_in_unit_interval"),
        ),
        sa.CheckConstraint(
            "human_accuracy IS NULL OR (human_accuracy >= 0 AND human_accuracy <= 1)",
            name=op.f("ck_pipeline_module_human_accuracy_in_unit_interval"),
        ),
        sa.ForeignKeyConstraint(
            ["cause_id"],
            ["cause.id"],
            name=op.f("fk_pipeline_module_cause_id_cause"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["pipeline.project_id"],
            name=op.f("fk_pipeline_module_project_id_pipeline"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_module")),
        sa.UniqueConstraint("cause_id", name=op.f("uq_pipeline_module_cause_id")),
    )
    op.create_index(
        op.f("ix_pipeline_module_project_id"), "pipeline_module", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pipeline_module_project_id"), table_name="pipeline_module")
    op.drop_table("pipeline_module")
    op.drop_table("pipeline")
