"""Blind review: two project settings. `blind_review` (on for every project, existing ones
included: an annotator sees nothing of others' verdicts on an error before finishing
their own) and `reveal_marks` (off: once finished, the consensus only, not each
person's marks).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not in batch mode: on SQLite that may rebuild the table, and dropping it with
    # foreign keys on would cascade to every run and annotation. ADD COLUMN with a
    # constant default is done in place on both databases.
    op.add_column(
        "project",
        sa.Column("blind_review", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column(
        "project",
        sa.Column("reveal_marks", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, and dropping it with foreign
    # keys on would cascade. SQLite 3.35+ drops a column in place.
    op.drop_column("project", "reveal_marks")
    op.drop_column("project", "blind_review")
