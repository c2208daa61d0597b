"""Each person's language: the one they chose on My account (`en`, `zh_CN`), or none
to follow their browser. A new nullable column; everyone starts with none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping the old one
    # would cascade to every row that points at a user. SQLite 3.35+ drops in place.
    op.drop_column("user_account", "language")
