"""A run's tally: each cause's share of the errors and what fixing it could gain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
    blind: bool = Field(
        False,
        description="Blind review: the figures are of the examined errors the caller has "
        "finished reviewing; others' reviews of the rest are not in them",
    )
    hidden_reviews: int = Field(
        0, description="Reviews by others of errors the caller has not finished (blind review)"
    )
    hidden: str | None = Field(
        None, description='What is held back, in words ("3 other reviews hidden until ...")'
    )
