"""Failed sign-ins, counted per account and per client address so the limit on guessing
passwords holds across workers. A new table; nothing existing changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failure")),
    )
    op.create_index("ix_sign_in_failure_key_at", "sign_in_failure", ["key", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_failure_key_at", table_name="sign_in_failure")
    op.drop_table("sign_in_failure")
