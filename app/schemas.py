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


# --- causes and runs ---------------------------------------------------------------


# --- predictions pushed from memory ------------------------------------------------


# --- errors, annotations and their export ------------------------------------------


# --- comparing runs ----------------------------------------------------------------
