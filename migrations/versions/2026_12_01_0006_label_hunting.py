"""Label-error hunting: each prediction's probability of its sample's given label
(stored at import, backfilled here), the project's review order, and the label audit
of correctly classified predictions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000


def _p_label(probs: object, label: str) -> float | None:
    # The rule as `label_suspects.p_label` states it today; a revision keeps its own
    # copy so that later changes to the app cannot change what this one did.
    if not isinstance(probs, dict) or not probs:
        return None
    value = probs.get(label, 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def upgrade() -> None:
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("p_label", sa.Float(), nullable=True))
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review_order", sa.String(length=16), server_default="random", nullable=False)
        )
    op.create_table(
        "label_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label_wrong", sa.Boolean(), nullable=True),
        sa.Column("suggested_label", sa.String(length=255), nullable=True),
        sa.Column("checker_id", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checker_id"],
            ["user_account.id"],
            name=op.f("fk_label_check_checker_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["prediction.id"],
            name=op.f("fk_label_check_prediction_id_prediction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_label_check_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_label_check_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_check")),
        sa.UniqueConstraint("prediction_id", name=op.f("uq_label_check_prediction_id")),
    )
    op.create_index("ix_label_check_queue", "label_check", ["run_id", "position"], unique=False)

    prediction = sa.table(
        "prediction",
        sa.column("id", sa.Integer()),
        sa.column("sample_id", sa.Integer()),
        sa.column("probs", sa.JSON()),
        sa.column("p_label", sa.Float()),
    )
    sample = sa.table("sample", sa.column("id", sa.Integer()), sa.column("label", sa.String()))
    db = op.get_bind()
    rows = db.execute(
        sa.select(prediction.c.id, prediction.c.probs, sample.c.label)
        .join(sample, sample.c.id == prediction.c.sample_id)
        .where(prediction.c.probs.is_not(None))
    ).all()
    values = [{"pid": r.id, "p": p} for r in rows if (p := _p_label(r.probs, r.label)) is not None]
    statement = (
        sa.update(prediction)
        .where(prediction.c.id == sa.bindparam("pid"))
        .values(p_label=sa.bindparam("p"))
    )
    for start in range(0, len(values), _BATCH):
        db.execute(statement, values[start : start + _BATCH])


def downgrade() -> None:
    op.drop_index("ix_label_check_queue", table_name="label_check")
    op.drop_table("label_check")
    # Not in batch mode: on SQLite that rebuilds the table, and dropping it with foreign
    # keys on would cascade. SQLite 3.35+ drops a column in place.
    op.drop_column("project", "review_order")
    op.drop_column("prediction", "p_label")
