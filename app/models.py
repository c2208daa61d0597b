"""The tables. Alembic revisions are generated from and checked against these.

Integrity that matters to the method is held by the database, not only by code:
a prediction can only pair a run and a sample of the same project, and only a
member of a project can own an annotation in it (composite foreign keys).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK: portable, and readable in raw SQL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class SiteRole(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class ProjectRole(enum.StrEnum):
    LEAD = "lead"
    ANNOTATOR = "annotator"


class SampleKind(enum.StrEnum):
    IMAGE = "image"
    TEXT = "text"
    RECORD = "record"


class GroupKind(enum.StrEnum):
    MULTI = "multi"
    SINGLE = "single"


class ReviewOrder(enum.StrEnum):
    """The order errors are offered in (stored as a string on the project)."""

    RANDOM = "random"  # the fixed random order: the reviewed part is a random sample
    SUSPECTS = "suspects"  # lowest probability of the given label first


class AnnotationStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"
    UNSURE = "unsure"


class AnnotationKind(enum.StrEnum):
    REVIEW = "review"
    ADJUDICATION = "adjudication"


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (
        # Usernames are stored folded so uniqueness is case-insensitive on both databases.
        CheckConstraint("username = lower(username)", name="username_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[SiteRole] = mapped_column(_enum(SiteRole, "site_role"), default=SiteRole.MEMBER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on a password change: sessions signed with an older epoch stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the one-time password an admin gave stops working unused (None: no expiry).
    one_time_password_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The language they chose on My account (app/i18n.py); None follows their browser.
    language: Mapped[str | None] = mapped_column(String(16), default=None)

    @property
    def is_admin(self) -> bool:
        return self.role is SiteRole.ADMIN

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


class SiteSetting(Base):
    __tablename__ = "site_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (CheckConstraint("overlap >= 1", name="overlap_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[SampleKind] = mapped_column(_enum(SampleKind, "sample_kind"))
    # The label vocabulary; empty means open (any label accepted at import).
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    annotators_may_add_causes: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seeds the fixed random review order, so every annotator sees a reproducible sample.
    queue_seed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Moves on with every write to the project's runs, samples or predictions
    # (`runs.data_changed`): an import planned at one version may write that plan as is
    # while the version is unchanged, instead of planning again under the write lock.
    data_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The order errors are offered in: "random" (the fixed random order, so the reviewed
    # part is a random sample) or "suspects" (lowest probability of the given label
    # first, to hunt label errors; the reviewed part is then no random sample).
    review_order: Mapped[str] = mapped_column(String(16), default="random", server_default="random")
    # Blind review: until an annotator has finished their own review of an error, nothing
    # of anyone else's verdict on it reaches them (`review.visibility`); leads see all.
    blind_review: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Under blind review, once an annotator finished an error: also everyone's individual
    # marks on it (True), or only the consensus (False).
    reveal_marks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Membership(Base):
    __tablename__ = "membership"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[ProjectRole] = mapped_column(_enum(ProjectRole, "project_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Removal keeps the row so the member's annotations stay attributed to them.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class MediaBlob(Base):
    """An original image, stored once by content hash; samples point at it."""

    __tablename__ = "media_blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sample(Base):
    __tablename__ = "sample"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id"),
        # Target of the composite keys that keep predictions inside one project.
        UniqueConstraint("id", "project_id", name="uq_sample_id_project"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255))
    image_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("media_blob.sha256", ondelete="RESTRICT"), default=None, index=True
    )
    text: Mapped[str | None] = mapped_column(Text, default=None)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # Nothing reads it; it orders the flush. A blob's key is its content hash, known before
    # any INSERT, so a new blob and a new sample showing it can be flushed together, and
    # SQLAlchemy orders INSERTs between tables by relationships only, not by foreign keys.
    image: Mapped[MediaBlob | None] = relationship(lazy="raise")


class Run(Base):
    """One model version evaluated on the project's eyeball set."""

    __tablename__ = "run"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        UniqueConstraint("id", "project_id", name="uq_run_id_project"),
        CheckConstraint("evaluated IS NULL OR evaluated >= 0", name="evaluated_non_negative"),
        # At most one run per project is the one its page opens on.
        Index(
            "uq_run_default_per_project",
            "project_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_import_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The last import applied to the run, as a sha-256 of its upload, its options and the
    # project's state right after it (`imports.pipeline`), and its rows: the same upload
    # again, while that state holds, is known to change nothing and is answered at once.
    last_import_key: Mapped[str | None] = mapped_column(String(64), default=None)
    last_import_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    # How many eyeball samples the run was evaluated on (correct ones included), so
    # the error rate is known even when only errors were imported. NULL = unknown.
    evaluated: Mapped[int | None] = mapped_column(Integer, default=None)
    # Its stored errors, and how many of them are under review: counted again by every
    # import (`verdicts.recount_errors`), so no view counts a run's predictions.
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_review: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Reported error rates (fractions in [0, 1]) for the bias/variance breakdown.
    human_error: Mapped[float | None] = mapped_column(Float, default=None)
    training_error: Mapped[float | None] = mapped_column(Float, default=None)
    blackbox_error: Mapped[float | None] = mapped_column(Float, default=None)
    test_error: Mapped[float | None] = mapped_column(Float, default=None)
    augmented_training_error: Mapped[float | None] = mapped_column(Float, default=None)
    augmented_validation_error: Mapped[float | None] = mapped_column(Float, default=None)


METRIC_FIELDS: tuple[str, ...] = (
    "human_error",
    "training_error",
    "blackbox_error",
    "test_error",
    "augmented_training_error",
    "augmented_validation_error",
)


class Prediction(Base):
    __tablename__ = "prediction"
    __table_args__ = (
        UniqueConstraint("run_id", "sample_id"),
        UniqueConstraint("id", "project_id", name="uq_prediction_id_project"),
        ForeignKeyConstraint(
            ["run_id", "project_id"],
            ["run.id", "run.project_id"],
            ondelete="CASCADE",
            name="fk_prediction_run_project",
        ),
        ForeignKeyConstraint(
            ["sample_id", "project_id"],
            ["sample.id", "sample.project_id"],
            ondelete="CASCADE",
            name="fk_prediction_sample_project",
        ),
        CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name="confidence_in_unit_interval",
        ),
        Index("ix_prediction_review", "run_id", "in_review", "review_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No key of its own to `project`: the run's key (above) names the project already,
    # and on PostgreSQL a second check of it cost every import a trigger per row.
    project_id: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int] = mapped_column(Integer)
    sample_id: Mapped[int] = mapped_column(Integer, index=True)
    label: Mapped[str] = mapped_column(String(255))
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    probs: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    # Kept in step with the sample's label by the domain: only errors are annotated.
    is_error: Mapped[bool] = mapped_column(Boolean)
    # Part of the random sample under review (the rest stay stored for later).
    in_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # Position in the project's fixed random review order.
    review_order: Mapped[int | None] = mapped_column(Integer, default=None)
    # The model's probability of the sample's given label (`label_suspects.p_label`),
    # stored at import because labels never change: ranks suspected label errors.
    p_label: Mapped[float | None] = mapped_column(Float)


class LabelCheck(Base):
    """A correctly classified prediction queued for a label check (the label audit).

    Fixing labels only where the model was wrong biases the error rate down; a random
    sample of the correct ones, checked, estimates the label errors the model agreed
    with. `label_wrong` is None until someone checked it.
    """

    __tablename__ = "label_check"
    __table_args__ = (Index("ix_label_check_queue", "run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    prediction_id: Mapped[int] = mapped_column(
        ForeignKey("prediction.id", ondelete="CASCADE"), unique=True
    )
    position: Mapped[int] = mapped_column(Integer)  # in the audit's random order
    label_wrong: Mapped[bool | None] = mapped_column(Boolean, default=None)
    suggested_label: Mapped[str | None] = mapped_column(String(255), default=None)
    checker_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CauseGroup(Base):
    __tablename__ = "cause_group"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        UniqueConstraint("id", "project_id", name="uq_cause_group_id_project"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[GroupKind] = mapped_column(_enum(GroupKind, "group_kind"), default=GroupKind.MULTI)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Cause(Base):
    __tablename__ = "cause"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        # NULL keys do not collide: most causes have no key.
        UniqueConstraint("project_id", "key"),
        ForeignKeyConstraint(
            ["group_id", "project_id"],
            ["cause_group.id", "cause_group.project_id"],
            ondelete="CASCADE",
            name="fk_cause_group_project",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    key: Mapped[str | None] = mapped_column(String(1), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    # A cause that was ever used is archived, never deleted: history refers to it.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Its key while archived (the key itself is freed): given back on unarchiving.
    archived_key: Mapped[str | None] = mapped_column(String(1), default=None)


class Pipeline(Base):
    """A project whose model is a chain of modules (detector -> classifier): each error is
    blamed on the module whose perfect output would have set it right. The blame is
    marked with causes of one group, so the sheet, its filters, its consensus and its
    ceilings treat it like any other cause; these rows say which causes are the modules
    and which are "pipeline design" and the "ambiguous" mark."""

    __tablename__ = "pipeline"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("cause_group.id", ondelete="CASCADE"))
    # SET NULL: a lead may delete an unused cause on the causes page; the pipeline stays.
    design_cause_id: Mapped[int | None] = mapped_column(
        ForeignKey("cause.id", ondelete="SET NULL"), default=None
    )
    ambiguous_cause_id: Mapped[int | None] = mapped_column(
        ForeignKey("cause.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PipelineModule(Base):
    """One module of a project's pipeline. Its name is its cause's name (one name, renamed
    in one place); its accuracies, when known, set it beside people doing its sub-task."""

    __tablename__ = "pipeline_module"
    __table_args__ = (
        CheckConstraint(
            "accuracy IS NULL OR (accuracy >= 0 AND accuracy <= 1)",
            name="accuracy_in_unit_interval",
        ),
        CheckConstraint(
            "human_accuracy IS NULL OR (human_accuracy >= 0 AND human_accuracy <= 1)",
            name="human_accuracy_in_unit_interval",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("pipeline.project_id", ondelete="CASCADE"), index=True
    )
    # CASCADE: a module whose cause was deleted (possible only while unused) is gone too.
    cause_id: Mapped[int] = mapped_column(ForeignKey("cause.id", ondelete="CASCADE"), unique=True)
    position: Mapped[int] = mapped_column(Integer)  # in the chain, input side first
    # The module's own measured accuracy on its sub-task, and people's on the same task.
    accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    human_accuracy: Mapped[float | None] = mapped_column(Float, default=None)


class Annotation(Base):
    """One person's verdict on one error; a lead's adjudication is a row of its own kind."""

    __tablename__ = "annotation"
    __table_args__ = (
        UniqueConstraint("prediction_id", "annotator_id", "kind"),
        ForeignKeyConstraint(
            ["prediction_id", "project_id"],
            ["prediction.id", "prediction.project_id"],
            ondelete="CASCADE",
            name="fk_annotation_prediction_project",
        ),
        # Only a (current or former) member of the project can own an annotation in it.
        ForeignKeyConstraint(
            ["project_id", "annotator_id"],
            ["membership.project_id", "membership.user_id"],
            ondelete="CASCADE",
            name="fk_annotation_membership",
        ),
        Index(
            "uq_annotation_one_adjudication",
            "prediction_id",
            unique=True,
            sqlite_where=text("kind = 'adjudication'"),
            postgresql_where=text("kind = 'adjudication'"),
        ),
        Index("ix_annotation_annotator_status", "annotator_id", "status"),
        # The dashboard's pace ("finished in the last hour") reads only recent rows.
        Index("ix_annotation_project_updated", "project_id", "updated_at"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    prediction_id: Mapped[int] = mapped_column(Integer, index=True)
    annotator_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[AnnotationKind] = mapped_column(
        _enum(AnnotationKind, "annotation_kind"), default=AnnotationKind.REVIEW
    )
    status: Mapped[AnnotationStatus] = mapped_column(
        _enum(AnnotationStatus, "annotation_status"), default=AnnotationStatus.IN_PROGRESS
    )
    label_error: Mapped[bool] = mapped_column(Boolean, default=False)
    suggested_label: Mapped[str | None] = mapped_column(String(255), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    skip_reason: Mapped[str] = mapped_column(Text, default="")
    # Set when a lead asks for finished errors to be looked at again after a new cause.
    needs_revisit: Mapped[bool] = mapped_column(Boolean, default=False)
    # Optimistic concurrency: a save must name the version it was based on.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AnnotationCause(Base):
    __tablename__ = "annotation_cause"

    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE"), primary_key=True
    )
    cause_id: Mapped[int] = mapped_column(
        ForeignKey("cause.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class AnnotationEvent(Base):
    """Append-only history: every change to an annotation, with the state before and after.

    States are full snapshots (causes by id and by name at the time), so any
    earlier state can be restored even after causes are renamed or merged.
    """

    __tablename__ = "annotation_event"
    __table_args__ = (Index("ix_annotation_event_project_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewLease(Base):
    """A short claim on an error while an annotator looks at it, so two never collide."""

    __tablename__ = "review_lease"
    __table_args__ = (
        UniqueConstraint("prediction_id", "user_id"),
        Index("ix_review_lease_expiry", "prediction_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("prediction.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    # SHA-256 of the token: tokens are long random strings, so a slow hash adds nothing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in lists so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SignInFailure(Base):
    """One failed sign-in (page or token route), counted per account and per client
    address by `app.domain.accounts.throttle`. In the database, not in memory, so the
    limit holds across every worker; rows older than the window are deleted as new
    failures come in."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "account:<username as folded>" or "address:<client IP>".
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ErrorVerdict(Base):
    """What the sheet shows of one error, as the one rule (`sheet.judge`) decides it.

    Derived state, kept current by `app.domain.analysis.verdicts.refresh` in the same
    transaction as every write that can change it, so that a view reads a page of these
    instead of recomputing a whole run. Only an error with at least one annotation has a
    row; no row means queued, with nothing marked.
    """

    __tablename__ = "error_verdict"
    __table_args__ = (Index("ix_error_verdict_run_status", "run_id", "status"),)

    prediction_id: Mapped[int] = mapped_column(
        ForeignKey("prediction.id", ondelete="CASCADE"), primary_key=True
    )
    # Denormalised from the prediction, so a run's aggregates need no join to find it.
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    # An `ErrorStatus` value (that enum belongs to the domain, which imports the models).
    status: Mapped[str] = mapped_column(String(16))
    examined: Mapped[bool] = mapped_column(Boolean)
    label_error: Mapped[bool] = mapped_column(Boolean)
    suggested_label: Mapped[str | None] = mapped_column(String(255), default=None)
    disagreement: Mapped[bool] = mapped_column(Boolean)
    cause_count: Mapped[int] = mapped_column(Integer)  # causes in the consensus
    # Review annotations that are finished, and how many of those flag a label error:
    # with `VerdictCause.marks`, the per-error counts Krippendorff's alpha adds up.
    finished: Mapped[int] = mapped_column(Integer)
    label_error_marks: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")


class VerdictCause(Base):
    """One cause some annotation of an error marks: whether the consensus holds it, and
    how many annotators marked it (so far, and among those who finished)."""

    __tablename__ = "verdict_cause"
    __table_args__ = (Index("ix_verdict_cause_run_cause", "run_id", "cause_id"),)

    prediction_id: Mapped[int] = mapped_column(
        ForeignKey("error_verdict.prediction_id", ondelete="CASCADE"), primary_key=True
    )
    cause_id: Mapped[int] = mapped_column(
        ForeignKey("cause.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    run_id: Mapped[int] = mapped_column(Integer)
    chosen: Mapped[bool] = mapped_column(Boolean)
    votes: Mapped[int] = mapped_column(Integer)  # review annotations marking it, any status
    marks: Mapped[int] = mapped_column(Integer)  # finished review annotations marking it


class VerdictSums:
    """The sums of stored verdicts a footer reads: how many errors stand in each status,
    and the label-error figures (a mixin of `RunVerdicts` and `RunFacetVerdicts`)."""

    # Errors with a stored verdict, by status (queued ones without a verdict are not here).
    queued: Mapped[int] = mapped_column(Integer, default=0)
    in_progress: Mapped[int] = mapped_column(Integer, default=0)
    unsure: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    adjudicated: Mapped[int] = mapped_column(Integer, default=0)
    label_errors: Mapped[int] = mapped_column(Integer, default=0)  # examined ones flagged
    # Krippendorff's alpha sums of the label-error flag over errors finished by two or
    # more (see `tally.AgreementSums`); `pair_errors` and `pair_values` are also the
    # totals every cause's agreement starts from.
    pair_errors: Mapped[int] = mapped_column(Integer, default=0)
    pair_values: Mapped[int] = mapped_column(Integer, default=0)
    label_coincidences: Mapped[float] = mapped_column(Float, default=0.0)
    label_marks: Mapped[int] = mapped_column(Integer, default=0)
    label_unanimous: Mapped[int] = mapped_column(Integer, default=0)


class CauseVerdictSums:
    """One cause's sums of stored verdicts: on how many errors some annotation marks it,
    in how many consensuses it is, and its agreement sums (a mixin)."""

    used: Mapped[int] = mapped_column(Integer, default=0)
    chosen: Mapped[int] = mapped_column(Integer, default=0)
    # Over errors finished by two or more on which someone marked it (`AgreementSums`).
    errors: Mapped[int] = mapped_column(Integer, default=0)
    values: Mapped[int] = mapped_column(Integer, default=0)
    coincidences: Mapped[float] = mapped_column(Float, default=0.0)
    marks: Mapped[int] = mapped_column(Integer, default=0)
    unanimous: Mapped[int] = mapped_column(Integer, default=0)


class RunVerdicts(VerdictSums, Base):
    """A run's stored verdicts added up. Kept current with `ErrorVerdict` by
    `verdicts.refresh` (each refresh adds its errors' change), so the unfiltered footer,
    the progress counts and the dashboard read one row, whatever the run's size."""

    __tablename__ = "run_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)


class RunCauseVerdicts(CauseVerdictSums, Base):
    """One cause in one run's stored verdicts, added up."""

    __tablename__ = "run_cause_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    cause_id: Mapped[int] = mapped_column(
        ForeignKey("cause.id", ondelete="CASCADE"), primary_key=True
    )


class RunFacetVerdicts(VerdictSums, Base):
    """A run's stored verdicts added up over the errors of one facet: a true label
    (`facet` "label"), a predicted label ("predicted") or a metadata value ("meta", under
    `key`), as the sheet's filter of that one thing matches them. The footer of a sheet
    filtered by one such value reads a row here instead of summing the slice, so it
    costs the same at any run size. Moved by `verdicts.refresh` with the run's sums;
    `errors` (annotated or not) and a sample's facets change only by an import, which
    counts them again (`verdicts.recount_facets`)."""

    __tablename__ = "run_facet_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # "" for the labels
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)  # under review, annotated or not


class RunFacetCauseVerdicts(CauseVerdictSums, Base):
    """One cause in one facet of a run's stored verdicts, added up."""

    __tablename__ = "run_facet_cause_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    cause_id: Mapped[int] = mapped_column(
        ForeignKey("cause.id", ondelete="CASCADE"), primary_key=True
    )


class RunAnnotatorVerdicts(Base):
    """One annotator's reviews in one run, added up: how many they have, how many they
    finished, and how many of the finished ones flag a label error. Kept current by every
    save (`verdicts.count_review`, from the review's state before and after), so the
    dashboard reads a row per annotator, whatever the run's size."""

    __tablename__ = "run_annotator_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[int] = mapped_column(Integer, default=0)
    label_errors: Mapped[int] = mapped_column(Integer, default=0)


class RunAnnotatorCauseVerdicts(Base):
    """How many of one annotator's finished reviews in a run mark one cause."""

    __tablename__ = "run_annotator_cause_verdicts"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    cause_id: Mapped[int] = mapped_column(
        ForeignKey("cause.id", ondelete="CASCADE"), primary_key=True
    )
    marks: Mapped[int] = mapped_column(Integer, default=0)
