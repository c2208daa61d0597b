"""Initial schema: users, projects, samples, runs, predictions, causes, annotations, history, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 21:43:48.061992
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_blob",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_media_blob")),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "image",
                "text",
                "record",
                name="sample_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("annotators_may_add_causes", sa.Boolean(), nullable=False),
        sa.Column("queue_seed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("overlap >= 1", name=op.f("ck_project_overlap_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
    )
    op.create_table(
        "site_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_setting")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "member",
                name="site_role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "username = lower(username)", name=op.f("ck_user_account_username_lowercase")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "cause_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "multi",
                "single",
                name="group_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_cause_group_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cause_group")),
        sa.UniqueConstraint("id", "project_id", name="uq_cause_group_id_project"),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_cause_group_project_id_name")),
    )
    op.create_table(
        "membership",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "lead",
                "annotator",
                name="project_role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_membership_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_membership_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_membership")),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_user_id"), ["user_id"], unique=False)

    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_import_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evaluated", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("human_error", sa.Float(), nullable=True),
        sa.Column("training_error", sa.Float(), nullable=True),
        sa.Column("blackbox_error", sa.Float(), nullable=True),
        sa.Column("test_error", sa.Float(), nullable=True),
        sa.Column("augmented_training_error", sa.Float(), nullable=True),
        sa.Column("augmented_validation_error", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "evaluated IS NULL OR evaluated >= 0", name=op.f("ck_run_evaluated_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_run_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint("id", "project_id", name="uq_run_id_project"),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_run_project_id_name")),
    )
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index(
            "uq_run_default_per_project",
            ["project_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_sha256"],
            ["media_blob.sha256"],
            name=op.f("fk_sample_image_sha256_media_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_sample_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample")),
        sa.UniqueConstraint("id", "project_id", name="uq_sample_id_project"),
        sa.UniqueConstraint(
            "project_id", "external_id", name=op.f("uq_sample_project_id_external_id")
        ),
    )
    with op.batch_alter_table("sample", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sample_image_sha256"), ["image_sha256"], unique=False)

    op.create_table(
        "cause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_cause_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id", "project_id"],
            ["cause_group.id", "cause_group.project_id"],
            name="fk_cause_group_project",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_cause_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cause")),
        sa.UniqueConstraint("project_id", "key", name=op.f("uq_cause_project_id_key")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_cause_project_id_name")),
    )
    with op.batch_alter_table("cause", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cause_group_id"), ["group_id"], unique=False)

    op.create_table(
        "prediction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("probs", sa.JSON(), nullable=True),
        sa.Column("is_error", sa.Boolean(), nullable=False),
        sa.Column("in_review", sa.Boolean(), nullable=False),
        sa.Column("review_order", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name=op.f("ck_prediction_confidence_in_unit_interval"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_prediction_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id", "project_id"],
            ["run.id", "run.project_id"],
            name="fk_prediction_run_project",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id", "project_id"],
            ["sample.id", "sample.project_id"],
            name="fk_prediction_sample_project",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction")),
        sa.UniqueConstraint("id", "project_id", name="uq_prediction_id_project"),
        sa.UniqueConstraint("run_id", "sample_id", name=op.f("uq_prediction_run_id_sample_id")),
    )
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_review", ["run_id", "in_review", "review_order"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_prediction_sample_id"), ["sample_id"], unique=False)

    op.create_table(
        "annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "review",
                "adjudication",
                name="annotation_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "in_progress",
                "done",
                "skipped",
                "unsure",
                name="annotation_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("label_error", sa.Boolean(), nullable=False),
        sa.Column("suggested_label", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=False),
        sa.Column("needs_revisit", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_annotation_version_positive")),
        sa.ForeignKeyConstraint(
            ["prediction_id", "project_id"],
            ["prediction.id", "prediction.project_id"],
            name="fk_annotation_prediction_project",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "annotator_id"],
            ["membership.project_id", "membership.user_id"],
            name="fk_annotation_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation")),
        sa.UniqueConstraint(
            "prediction_id",
            "annotator_id",
            "kind",
            name=op.f("uq_annotation_prediction_id_annotator_id_kind"),
        ),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_annotation_annotator_status", ["annotator_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_annotation_prediction_id"), ["prediction_id"], unique=False
        )
        batch_op.create_index(
            "uq_annotation_one_adjudication",
            ["prediction_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'adjudication'"),
            postgresql_where=sa.text("kind = 'adjudication'"),
        )

    op.create_table(
        "review_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["prediction.id"],
            name=op.f("fk_review_lease_prediction_id_prediction"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_review_lease_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_lease")),
        sa.UniqueConstraint(
            "prediction_id", "user_id", name=op.f("uq_review_lease_prediction_id_user_id")
        ),
    )
    with op.batch_alter_table("review_lease", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_lease_expiry", ["prediction_id", "expires_at"], unique=False
        )

    op.create_table(
        "annotation_cause",
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_annotation_cause_annotation_id_annotation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cause_id"],
            ["cause.id"],
            name=op.f("fk_annotation_cause_cause_id_cause"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("annotation_id", "cause_id", name=op.f("pk_annotation_cause")),
    )
    with op.batch_alter_table("annotation_cause", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotation_cause_cause_id"), ["cause_id"], unique=False
        )

    op.create_table(
        "annotation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user_account.id"],
            name=op.f("fk_annotation_event_actor_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_annotation_event_annotation_id_annotation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_annotation_event_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_event")),
    )
    with op.batch_alter_table("annotation_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annotation_event_annotation_id"), ["annotation_id"], unique=False
        )
        batch_op.create_index("ix_annotation_event_project_id", ["project_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("annotation_event", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_event_project_id")
        batch_op.drop_index(batch_op.f("ix_annotation_event_annotation_id"))

    op.drop_table("annotation_event")
    with op.batch_alter_table("annotation_cause", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_cause_cause_id"))

    op.drop_table("annotation_cause")
    with op.batch_alter_table("review_lease", schema=None) as batch_op:
        batch_op.drop_index("ix_review_lease_expiry")

    op.drop_table("review_lease")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_annotation_one_adjudication",
            sqlite_where=sa.text("kind = 'adjudication'"),
            postgresql_where=sa.text("kind = 'adjudication'"),
        )
        batch_op.drop_index(batch_op.f("ix_annotation_prediction_id"))
        batch_op.drop_index("ix_annotation_annotator_status")

    op.drop_table("annotation")
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_sample_id"))
        batch_op.drop_index("ix_prediction_review")

    op.drop_table("prediction")
    with op.batch_alter_table("cause", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cause_group_id"))

    op.drop_table("cause")
    with op.batch_alter_table("sample", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_image_sha256"))

    op.drop_table("sample")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_run_default_per_project",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.drop_table("run")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_user_id"))

    op.drop_table("membership")
    op.drop_table("cause_group")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user_account")
    op.drop_table("site_setting")
    op.drop_table("project")
    op.drop_table("media_blob")
