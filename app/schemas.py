"""Pydantic shapes of the JSON API (and only of the API)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.models import User


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


class ImportRefusedOut(BaseModel):
    detail: str
    problems: list[ProblemOut]
