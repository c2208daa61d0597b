"""A prediction's own foreign key to its project dropped: its key to `run(id,
project_id)` already names a run of that project, which names the project, so the
project is checked twice. On PostgreSQL each check is a trigger per row, and a
10,000-row import spent about a tenth of its write on this one. No data changes;
deleting a project still deletes its predictions, through its runs and samples.

On SQLite the table is rebuilt (with foreign keys off while it is: see
`app.schema.tables_rebuilt_safely`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "fk_prediction_project_id_project"


def upgrade() -> None:
    with op.batch_alter_table("prediction") as batch:
        batch.drop_constraint(KEY, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("prediction") as batch:
        batch.create_foreign_key(KEY, "project", ["project_id"], ["id"], ondelete="CASCADE")
