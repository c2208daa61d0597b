"""Each run's errors and errors under review, stored on the run (kept by every import),
so the views read them instead of counting a run's predictions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:16:02.546361
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("errors", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("in_review", sa.Integer(), server_default="0", nullable=False)
        )
    from app.domain import verdicts

    session = Session(bind=op.get_bind())  # joins the migration's transaction
    verdicts.recount_errors(session)
    session.flush()
    session.close()


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping `run` with
    # foreign keys on would cascade to its predictions. SQLite 3.35+ drops a column
    # in place.
    op.drop_column("run", "in_review")
    op.drop_column("run", "errors")
