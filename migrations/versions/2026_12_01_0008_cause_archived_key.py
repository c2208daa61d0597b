"""A cause's key kept while it is archived: archiving frees the key for live causes, and
unarchiving gives it back when no live cause took it meanwhile. A new nullable column;
causes archived before it simply come back without a key, as they did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cause", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_key", sa.String(length=1), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which foreign keys point at.
    # SQLite 3.35+ drops a column in place.
    op.drop_column("cause", "archived_key")
