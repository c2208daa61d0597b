"""Projects, their members, and new users."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from app.models import Project, ProjectRole

Kind = Literal["image", "text", "record"]
Role = Literal["lead", "annotator"]
ReviewOrderName = Literal["random", "suspects"]
REVIEW_ORDER_HELP = (
    "The order errors are offered in: `random` (a random sample is reviewed first) or "
    "`suspects` (lowest model probability of the given label first, to hunt label errors)"
)

BLIND_HELP = (
    "Blind review: until an annotator has finished their own review of an error, nothing "
    "of anyone else's verdict on it reaches them (leads and admins see everything)"
)
REVEAL_HELP = (
    "With blind review: once an annotator has finished an error, show them each person's "
    "marks on it too, not only the consensus"
)


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
    review_order: ReviewOrderName = Field("random", description=REVIEW_ORDER_HELP)
    blind_review: bool = Field(True, description=BLIND_HELP)
    reveal_marks: bool = Field(False, description=REVEAL_HELP)


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
    review_order: ReviewOrderName | None = Field(None, description=REVIEW_ORDER_HELP)
    blind_review: bool | None = Field(None, description=BLIND_HELP)
    reveal_marks: bool | None = Field(None, description=REVEAL_HELP)
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
                "review_order": "random",
                "blind_review": True,
                "reveal_marks": False,
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
    review_order: ReviewOrderName
    blind_review: bool
    reveal_marks: bool
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
            review_order=cast(ReviewOrderName, project.review_order),
            blind_review=project.blind_review,
            reveal_marks=project.reveal_marks,
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
