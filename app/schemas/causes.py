"""A project's causes: create, change, merge."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.domain.projects.causes import AUTO_KEY


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
    uses: int = Field(
        description="Annotations (any annotator, any status) that mark it; under blind "
        "review an annotator counts only those they may see (their own, and others' on "
        "errors they finished when the project reveals marks)"
    )


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
