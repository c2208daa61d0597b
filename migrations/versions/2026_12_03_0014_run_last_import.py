"""What the last import applied to each run was (`imports.pipeline`): the same upload
again, while nothing else changed, is known to be a no-op and answers at once. Two new
nullable columns; every run starts with none, so its next import runs in full.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("last_import_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("last_import_rows", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping the old one
    # would cascade to every row that points at a run. SQLite 3.35+ drops in place.
    op.drop_column("run", "last_import_rows")
    op.drop_column("run", "last_import_key")
