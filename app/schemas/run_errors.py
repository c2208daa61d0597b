"""A run's errors under review, their annotations, and saving one's own."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.numbers import MAX_INT

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
    text: str | None = Field(description="The whole text, in a text project; else null")
    record: dict[str, object] | None = Field(
        description="The record's fields, in a record project; else null"
    )
    image_url: str | None = Field(
        description="GET it (with the token) for the image, in an image project; else null"
    )
    thumbnail_url: str | None = Field(description="The image's 256-pixel thumbnail; else null")
    label: str  # the ground truth as stored
    prediction: str
    confidence: float | None
    metadata: dict[str, object]
    status: Literal[
        "queued", "in_progress", "unsure", "skipped", "partial", "done", "adjudicated"
    ] = Field(
        description="Under blind review, until you finished your own review of the error, "
        "your own review's status (queued if you have none)"
    )
    examined: bool  # the consensus is settled (finished by enough annotators, or adjudicated)
    causes: list[str]  # the consensus; empty until examined
    label_error: bool
    suggested_label: str | None
    disagreement: bool
    annotations: list[AnnotationOut]
    hidden_reviews: int = Field(
        0,
        description="Blind review: other people's reviews of this error held back from "
        "the caller until they finish their own (then `causes` and the rest are the "
        "consensus again)",
    )
    hidden: str | None = Field(
        None, description='What is held back, in words ("1 other review hidden until ...")'
    )


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
                        "text": None,
                        "record": None,
                        "image_url": "https://eyeball.example/api/v1/media/9f86d081…",
                        "thumbnail_url": "https://eyeball.example/api/v1/media/9f86d081…/thumbnail",
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
    suggested_label: str | None = Field(
        default=None,
        max_length=255,
        description="The right label, when label_error is true",
    )
    note: str = ""
    status: AnnotationStatusName = "done"
    skip_reason: str = Field(default="", description="Why, when the status is skipped")
    version: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INT,
        description="The version this change is based on (0 for a new annotation): a stale "
        "one is refused with 409. Left out, the change is written over the current state.",
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
