"""Pydantic shapes of the JSON API (and only of the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from app.domain.projects.causes import AUTO_KEY
from app.domain.review.status import RunProgress
from app.models import METRIC_FIELDS, Project, ProjectRole, User


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"username": "ada", "display_name": "Ada L.", "admin": False}}
    )

    username: str
    display_name: str
    admin: bool

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(username=user.username, display_name=user.display_name, admin=user.is_admin)


class TokenIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "username": "ada",
                "password": "correct horse battery",
                "name": "laptop notebook",
            }
        }
    )

    username: str
    password: str
    name: str


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"token": "eyb_3q2…", "name": "laptop notebook", "id": 4}}
    )

    token: str
    name: str
    id: int


class ImportSummaryOut(BaseModel):
    """What an import did. `error_rate` is null when the evaluated count is unknown."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run": "resnet50-v2",
                "rows": 1000,
                "samples_created": 1000,
                "samples_updated": 0,
                "predictions_created": 1000,
                "errors": 114,
                "evaluated": 1000,
                "error_rate": 0.114,
                "queued_for_review": 100,
                "seed": 7,
            }
        }
    )

    run: str
    rows: int
    samples_created: int
    samples_updated: int
    predictions_created: int
    errors: int
    evaluated: int | None
    error_rate: float | None
    queued_for_review: int
    seed: int | None


class ProblemOut(BaseModel):
    line: int | None
    column: str | None
    message: str


class CauseTallyOut(BaseModel):
    cause: str
    group: str
    archived: bool
    count: int
    share: float | None
    share_low: float
    share_high: float
    # Points of error rate a perfect fix could gain at most; None when the rate is unknown.
    ceiling_points: float | None
    ceiling_points_low: float | None
    ceiling_points_high: float | None
    error_rate_if_fixed: float | None


class LabelErrorsOut(BaseModel):
    count: int
    share: float | None
    share_low: float
    share_high: float
    advice: str


class AgreementOut(BaseModel):
    cause: str | None  # None: the label-error flag
    alpha: float | None
    percent_agreement: float | None
    errors: int


class TallyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run": "v1",
                "evaluated": 1000,
                "errors": 114,
                "examined": 80,
                "error_rate": 0.114,
                "causes": [
                    {
                        "cause": "Faint or broken strokes",
                        "group": "Causes",
                        "archived": False,
                        "count": 24,
                        "share": 0.3,
                        "share_low": 0.21,
                        "share_high": 0.41,
                        "ceiling_points": 3.42,
                        "ceiling_points_low": 2.39,
                        "ceiling_points_high": 4.64,
                        "error_rate_if_fixed": 0.0798,
                    }
                ],
                "label_errors": {
                    "count": 4,
                    "share": 0.05,
                    "share_low": 0.02,
                    "share_high": 0.12,
                    "advice": "Below about 10% of the errors: ...",
                },
                "agreement": [],
            }
        }
    )

    run: str
    evaluated: int | None
    errors: int
    rows: int  # errors under review that the filters keep
    examined: int
    error_rate: float | None
    ceiling_note: str | None  # what is missing for ceilings in points, if anything
    errors_needed_for_5_points: int
    causes: list[CauseTallyOut]
    label_errors: LabelErrorsOut
    agreement: list[AgreementOut]


# --- projects, members, users ------------------------------------------------------

Kind = Literal["image", "text", "record"]
Role = Literal["lead", "annotator"]


class ProjectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Cat detector",
                "description": "Misclassified images of the eyeball dev set",
                "kind": "image",
                "labels": ["cat", "dog", "other"],
                "overlap": 1,
            }
        },
    )

    name: str
    kind: Kind
    description: str = ""
    labels: list[str] = Field(default_factory=list, description="The label vocabulary, if fixed")
    overlap: int = Field(1, description="How many people review each error (1-20)")
    annotators_may_add_causes: bool = False


class ProjectPatch(BaseModel):
    """Only the fields given change. `archived` archives (read-only) or restores."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"description": "Now with night-time images", "overlap": 2}},
    )

    name: str | None = None
    kind: Kind | None = None
    description: str | None = None
    labels: list[str] | None = None
    overlap: int | None = None
    annotators_may_add_causes: bool | None = None
    archived: bool | None = None


class ProjectOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 3,
                "name": "Cat detector",
                "description": "Misclassified images of the eyeball dev set",
                "kind": "image",
                "labels": ["cat", "dog", "other"],
                "overlap": 1,
                "annotators_may_add_causes": False,
                "archived": False,
                "created_at": "2026-11-30T09:12:00Z",
                "role": "lead",
            }
        }
    )

    id: int
    name: str
    description: str
    kind: Kind
    labels: list[str]
    overlap: int
    annotators_may_add_causes: bool
    archived: bool
    created_at: datetime
    role: Role | None = Field(description="The caller's role; null for an admin off the team")

    @classmethod
    def of(cls, project: Project, role: ProjectRole | None) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            description=project.description,
            kind=project.kind.value,
            labels=list(project.labels),
            overlap=project.overlap,
            annotators_may_add_causes=project.annotators_may_add_causes,
            archived=project.is_archived,
            created_at=project.created_at,
            role=role.value if role is not None else None,
        )


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"role": "annotator"}})

    role: Role


class MemberOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"username": "grace", "display_name": "Grace H.", "role": "annotator"}
        }
    )

    username: str
    display_name: str
    role: Role


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"username": "grace", "password": "a long passphrase", "admin": False}
        },
    )

    username: str
    password: str
    admin: bool = False


# --- causes and runs ---------------------------------------------------------------


class CauseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Blurry",
                "description": "Motion or focus blur hides the object",
                "group": "Image quality",
                "key": "3",
            }
        },
    )

    name: str
    description: str = ""
    group: str | None = Field(
        None, description="The group's name, created if new; default: the first group"
    )
    key: str | None = Field(
        AUTO_KEY,
        description="Keyboard key on the review screen: a digit or letter; "
        "'auto' (default) takes the next free digit; null for none",
    )
    allow_similar: bool = Field(
        False, description="Create it even though a cause with a similar name exists"
    )


class CausePatch(BaseModel):
    """Only the fields given change; `archived` hides the cause from review (or brings it back)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"name": "Motion blur", "group": "Image quality", "position": 0}
        },
    )

    name: str | None = None
    description: str | None = None
    group: str | None = None
    key: str | None = Field(None, description="'' removes the key")
    position: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Its place among the active causes of its group (after a move to "
        "another group, of that group), 0 first; the review screen shows them in this order",
    )
    archived: bool | None = None
    allow_similar: bool = False


class CauseOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 12,
                "name": "Blurry",
                "description": "Motion or focus blur hides the object",
                "group": "Image quality",
                "key": "3",
                "archived": False,
                "uses": 41,
            }
        }
    )

    id: int
    name: str
    description: str
    group: str
    key: str | None
    archived: bool
    uses: int = Field(description="Annotations (any annotator, any status) that mark it")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"into": 7}})

    into: int = Field(
        ge=1, le=2**31 - 1, description="The id of the cause that takes over the annotations"
    )


class MergeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"merged": 12, "into": 7, "annotations": 41, "errors": 38},
        }
    )

    merged: int = Field(description="The cause merged away (now archived)")
    into: int
    annotations: int = Field(description="Annotations that changed, one event each")
    errors: int


class RunIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "resnet50-v3",
                "description": "More augmentation of night-time images",
                "evaluated": 1000,
                "metrics": {"human_error": 0.01, "training_error": 0.02, "blackbox_error": 0.09},
            }
        },
    )

    name: str
    description: str = ""
    evaluated: int | None = Field(None, description="Samples the run was evaluated on")
    metrics: dict[str, float | None] = Field(
        default_factory=dict,
        description="Error rates as fractions: " + ", ".join(METRIC_FIELDS),
    )


class RunOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 5,
                "name": "resnet50-v3",
                "description": "",
                "evaluated": 1000,
                "errors": 114,
                "in_review": 100,
                "done": 40,
                "error_rate": 0.114,
                "metrics": {"human_error": 0.01, "training_error": 0.02},
                "created_at": "2026-11-30T09:12:00Z",
                "last_import_at": "2026-11-30T09:13:05Z",
                "default": False,
            }
        }
    )

    id: int
    name: str
    description: str
    evaluated: int | None
    errors: int = Field(description="Misclassified samples imported")
    in_review: int = Field(description="Errors in the sample under review")
    done: int = Field(description="Errors under review with a finished annotation")
    error_rate: float | None
    metrics: dict[str, float | None]
    created_at: datetime
    last_import_at: datetime | None
    default: bool = Field(description="The run the project page opens on")

    @classmethod
    def of(cls, progress: RunProgress) -> RunOut:
        run = progress.run
        return cls(
            id=run.id,
            name=run.name,
            description=run.description,
            evaluated=run.evaluated,
            errors=progress.errors,
            in_review=progress.in_review,
            done=progress.done,
            error_rate=progress.error_rate,
            metrics={metric: getattr(run, metric) for metric in METRIC_FIELDS},
            created_at=run.created_at,
            last_import_at=run.last_import_at,
            default=run.is_default,
        )


# --- predictions pushed from memory ------------------------------------------------


class PushedSampleIn(BaseModel):
    """One sample and the run's prediction for it.

    The values are checked like the cells of a manifest, with every problem numbered
    by the sample's position, so pydantic only documents their types here.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "required": ["id", "label", "prediction"],
            "example": {
                "id": "cat-001",
                "label": "cat",
                "prediction": "dog",
                "confidence": 0.81,
                "probs": {"cat": 0.19, "dog": 0.81},
                "text": "a grey cat on a sofa",
                "metadata": {"camera": "front"},
            },
        },
    )

    id: SkipValidation[str | int | None] = Field(
        None, description="Your id of the sample, unique in the project (at most 255 characters)"
    )
    label: SkipValidation[str | int | None] = Field(None, description="The ground-truth label")
    prediction: SkipValidation[str | int | None] = Field(
        None, description="The model's prediction; the sample is an error when it differs"
    )
    confidence: SkipValidation[float | None] = Field(None, description="From 0 to 1")
    probs: SkipValidation[dict[str, float] | list[float] | None] = Field(
        None,
        description="Label → probability, or a list in the order of the project's labels; "
        "adds up to 1",
    )
    text: SkipValidation[str | None] = Field(None, description="Text projects: the text")
    record: SkipValidation[dict[str, Any] | None] = Field(
        None, description="Record projects: the record"
    )
    image_base64: SkipValidation[str | None] = Field(
        None, description="Image projects: the image file (PNG, JPEG, ...) in base64"
    )
    metadata: SkipValidation[dict[str, Any] | None] = Field(
        None,
        description="Kept with the sample and offered as a filter; any field not named "
        "here is kept as metadata too",
    )

    def fields(self) -> dict[str, Any]:
        """The fields as sent (extra ones included), without serialising unchecked values."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        return {**(self.model_extra or {}), **sent}


class PredictionsIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "evaluated": 1000,
                "samples": [
                    {
                        "id": "cat-001",
                        "label": "cat",
                        "prediction": "dog",
                        "confidence": 0.81,
                        "text": "a grey cat on a sofa",
                        "metadata": {"camera": "front"},
                    },
                    {"id": "cat-002", "label": "cat", "prediction": "cat", "text": "a kitten"},
                ],
                "sample_errors": 100,
                "seed": 7,
            }
        }
    )

    evaluated: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Samples the run was evaluated on, when only its errors are sent",
    )
    samples: list[PushedSampleIn] = Field(description="The samples, at most one per id")
    sample_errors: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Review a random sample of this many errors"
    )
    seed: int | None = Field(None, description="Seed of that sample; drawn when not given")


class RefusedImportOut(BaseModel):
    """Nothing was imported. `problems` lists every reason: `line` is the manifest's
    line, or for pushed predictions the sample's position in `samples`, from 1 (null:
    the request as a whole). A request that is not in the documented shape at all gets
    only a `detail`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "detail": "Nothing was imported: 2 problems to fix first.",
                "problems": [
                    {"line": 2, "column": "confidence", "message": "2 is outside 0..1"},
                    {
                        "line": 4,
                        "column": "image_base64",
                        "message": "not valid base64 text of an image file",
                    },
                ],
            }
        }
    )

    detail: str
    problems: list[ProblemOut] | None = None


# --- errors, annotations and their export ------------------------------------------

AnnotationStatusName = Literal["in_progress", "done", "skipped", "unsure"]


class AnnotationOut(BaseModel):
    """One person's annotation of one error."""

    annotator: str  # username
    kind: Literal["review", "adjudication"]
    status: AnnotationStatusName
    causes: list[str]
    label_error: bool
    suggested_label: str | None
    note: str
    version: int
    updated_at: datetime


class ErrorOut(BaseModel):
    """An error under review with the sheet's consensus and every annotation of it."""

    sample_id: str
    label: str  # the ground truth as stored
    prediction: str
    confidence: float | None
    metadata: dict[str, object]
    status: Literal["queued", "in_progress", "unsure", "skipped", "partial", "done", "adjudicated"]
    examined: bool  # the consensus is settled (finished by enough annotators, or adjudicated)
    causes: list[str]  # the consensus; empty until examined
    label_error: bool
    suggested_label: str | None
    disagreement: bool
    annotations: list[AnnotationOut]


class ErrorsPageOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run": "resnet50-v2",
                "matching": 114,
                "next_cursor": "WzcsZmFsc2UsMTAsNDJd",
                "errors": [
                    {
                        "sample_id": "img_0042",
                        "label": "cat",
                        "prediction": "dog",
                        "confidence": 0.81,
                        "metadata": {"source": "phone"},
                        "status": "done",
                        "examined": True,
                        "causes": ["blurry"],
                        "label_error": False,
                        "suggested_label": None,
                        "disagreement": False,
                        "annotations": [
                            {
                                "annotator": "ada",
                                "kind": "review",
                                "status": "done",
                                "causes": ["blurry"],
                                "label_error": False,
                                "suggested_label": None,
                                "note": "motion blur",
                                "version": 2,
                                "updated_at": "2026-11-29T10:12:31.482913Z",
                            }
                        ],
                    }
                ],
            }
        }
    )

    run: str
    matching: int  # errors under review that the filters keep, over all pages
    next_cursor: str | None  # pass as `cursor` for the next page; null on the last one
    errors: list[ErrorOut]


class AnnotationIn(BaseModel):
    """The caller's whole annotation of one error: a save replaces, it does not patch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "causes": ["blurry", "dog"],
                "label_error": False,
                "suggested_label": None,
                "note": "",
                "status": "done",
                "version": 3,
            }
        },
    )

    causes: list[str] = Field(default=[], description="Cause names of the project")
    label_error: bool = False
    # No NUL characters: PostgreSQL text cannot store them.
    suggested_label: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^[^\x00]*$",
        description="The right label, when label_error is true",
    )
    note: str = Field(default="", pattern=r"^[^\x00]*$")
    status: AnnotationStatusName = "done"
    skip_reason: str = Field(
        default="", pattern=r"^[^\x00]*$", description="Why, when the status is skipped"
    )
    version: int = Field(
        ge=0, description="The version this change is based on: 0 for a new annotation"
    )


class AnnotationStateOut(BaseModel):
    causes: list[str]
    label_error: bool
    suggested_label: str | None
    note: str
    status: AnnotationStatusName
    skip_reason: str


class AnnotationSavedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run": "resnet50-v2",
                "sample_id": "img_0042",
                "annotator": "ada",
                "causes": ["blurry", "dog"],
                "label_error": False,
                "suggested_label": None,
                "note": "",
                "status": "done",
                "skip_reason": "",
                "version": 4,
                "updated_at": "2026-11-29T10:12:31.482913Z",
                "changed": True,
            }
        }
    )

    run: str
    sample_id: str
    annotator: str
    causes: list[str]
    label_error: bool
    suggested_label: str | None
    note: str
    status: AnnotationStatusName
    skip_reason: str
    version: int  # send this as `version` with the next change
    updated_at: datetime
    changed: bool  # false when the body equalled what was stored (nothing was written)


class StaleAnnotationOut(BaseModel):
    """The change was based on an older version; nothing was written."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "detail": "This error was changed elsewhere (another tab or device) since "
                "you loaded it. ...",
                "current": {
                    "causes": ["blurry"],
                    "label_error": False,
                    "suggested_label": None,
                    "note": "",
                    "status": "done",
                    "skip_reason": "",
                },
                "version": 4,
            }
        }
    )

    detail: str
    current: AnnotationStateOut
    version: int


# --- comparing runs ----------------------------------------------------------------


class RunFiguresOut(BaseModel):
    run: str
    evaluated: int | None
    errors: int
    examined: int  # in the slice, when filtered
    error_rate: float | None


class SideOut(BaseModel):
    """One cause in one run."""

    count: int
    examined: int
    share: float | None
    share_low: float
    share_high: float
    # Points of error rate the cause accounts for (what a perfect fix could gain at
    # most); null when the run's error rate is unknown.
    ceiling_points: float | None
    ceiling_points_low: float | None
    ceiling_points_high: float | None


class ShareChangeOut(BaseModel):
    a: SideOut
    b: SideOut
    # b - a in share of the examined errors, with its 95% interval (Newcombe).
    difference: float | None
    difference_low: float | None
    difference_high: float | None
    # b - a in points of error rate, with its 95% interval; null if a rate is unknown.
    points_difference: float | None
    points_difference_low: float | None
    points_difference_high: float | None
    change: Literal["fell", "rose", "unclear"]


class CauseChangeOut(ShareChangeOut):
    cause_id: int
    cause: str
    group: str
    archived: bool


class ComparisonOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "a": {
                    "run": "v1",
                    "evaluated": 2000,
                    "errors": 200,
                    "examined": 100,
                    "error_rate": 0.1,
                },
                "b": {
                    "run": "v2",
                    "evaluated": 2000,
                    "errors": 150,
                    "examined": 100,
                    "error_rate": 0.075,
                },
                "filtered": False,
                "causes": [
                    {
                        "cause_id": 3,
                        "cause": "blurry",
                        "group": "Causes",
                        "archived": False,
                        "a": {
                            "count": 40,
                            "examined": 100,
                            "share": 0.4,
                            "share_low": 0.309,
                            "share_high": 0.498,
                            "ceiling_points": 4.0,
                            "ceiling_points_low": 3.09,
                            "ceiling_points_high": 4.98,
                        },
                        "b": {
                            "count": 12,
                            "examined": 100,
                            "share": 0.12,
                            "share_low": 0.07,
                            "share_high": 0.198,
                            "ceiling_points": 0.9,
                            "ceiling_points_low": 0.53,
                            "ceiling_points_high": 1.49,
                        },
                        "difference": -0.28,
                        "difference_low": -0.392,
                        "difference_high": -0.159,
                        "points_difference": -3.1,
                        "points_difference_low": -4.12,
                        "points_difference_high": -2.12,
                        "change": "fell",
                    }
                ],
                "label_errors": {
                    "a": {
                        "count": 6,
                        "examined": 100,
                        "share": 0.06,
                        "share_low": 0.028,
                        "share_high": 0.125,
                        "ceiling_points": 0.6,
                        "ceiling_points_low": 0.28,
                        "ceiling_points_high": 1.25,
                    },
                    "b": {
                        "count": 7,
                        "examined": 100,
                        "share": 0.07,
                        "share_low": 0.034,
                        "share_high": 0.137,
                        "ceiling_points": 0.525,
                        "ceiling_points_low": 0.26,
                        "ceiling_points_high": 1.03,
                    },
                    "difference": 0.01,
                    "difference_low": -0.064,
                    "difference_high": 0.086,
                    "points_difference": -0.075,
                    "points_difference_low": -0.79,
                    "points_difference_high": 0.57,
                    "change": "unclear",
                },
            }
        }
    )

    a: RunFiguresOut
    b: RunFiguresOut
    filtered: bool
    causes: list[CauseChangeOut]
    label_errors: ShareChangeOut
