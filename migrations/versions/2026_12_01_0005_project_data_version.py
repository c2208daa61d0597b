"""A project's data version, moved on by every write to its runs, samples or
predictions, so an import can tell whether the plan it made outside the write
transaction still holds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping `project` with
    # foreign keys on would cascade to everything. SQLite 3.35+ drops a column in place.
    op.drop_column("project", "data_version")
