"""One-time passwords that expire: when the one-time password an admin gave (a new
account, a reset) stops working if still unused. A new nullable column; one-time
passwords given before it expire 72 hours after the upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:20:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default of EYEBALL_ONE_TIME_PASSWORD_HOURS when this revision was written.
GIVEN_BEFORE_VALID_FOR = timedelta(hours=72)


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(
            sa.Column("one_time_password_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    user = sa.table(
        "user_account",
        sa.column("must_change_password", sa.Boolean()),
        sa.column("one_time_password_expires_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        user.update()
        .where(user.c.must_change_password.is_(True))
        .values(one_time_password_expires_at=datetime.now(UTC) + GIVEN_BEFORE_VALID_FOR)
    )


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping the old one
    # would cascade to every row that points at a user (annotations, memberships).
    # SQLite 3.35+ drops a column in place.
    op.drop_column("user_account", "one_time_password_expires_at")
