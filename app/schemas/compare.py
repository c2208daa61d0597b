"""Two runs compared: how each cause's share changed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TrendOut = Literal["fell", "rose", "unclear"]


class RunFiguresOut(BaseModel):
    run: str
    evaluated: int | None
    errors: int
    examined: int  # in the slice, when filtered
    error_rate: float | None
    hidden: str | None = Field(
        None,
        description="Blind review: others' reviews of errors the caller has not finished "
        "are not in these figures, said in words",
    )


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
    change: TrendOut = Field(
        description="The same verdict as `trend` (kept for existing clients): read it "
        "with `trend_unit` and the `trend_difference` interval it was judged on."
    )
    # The verdict together with the one difference it was judged on.
    trend: TrendOut = Field(
        description="`fell` when the whole 95% interval of `trend_difference` is below 0, "
        "`rose` when it is above 0, `unclear` when it holds 0 or a run has nothing to "
        "go on."
    )
    trend_unit: Literal["points", "share"] = Field(
        description="The unit the change is judged in: `points` (of error rate) when both "
        "runs' error rates are known, otherwise `share` (of the examined errors)."
    )
    trend_difference: float | None = Field(
        description="b - a in `trend_unit`: `points_difference` when it is `points`, "
        "`difference` when it is `share`; null when a run has nothing to go on."
    )
    trend_difference_low: float | None = Field(
        description="Low end of the 95% interval of `trend_difference`."
    )
    trend_difference_high: float | None = Field(
        description="High end of the 95% interval of `trend_difference`."
    )


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
                        "trend": "fell",
                        "trend_unit": "points",
                        "trend_difference": -3.1,
                        "trend_difference_low": -4.12,
                        "trend_difference_high": -2.12,
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
                    "trend": "unclear",
                    "trend_unit": "points",
                    "trend_difference": -0.075,
                    "trend_difference_low": -0.79,
                    "trend_difference_high": 0.57,
                },
                "error_rate_change": -0.025,
                "error_rate_change_low": -0.0434,
                "error_rate_change_high": -0.0069,
                "error_rate_trend": "fell",
                "fixed": ["s0012", "s0107"],
                "new": ["s0450"],
                "stayed": ["s0003"],
            }
        }
    )

    a: RunFiguresOut
    b: RunFiguresOut
    filtered: bool
    causes: list[CauseChangeOut]
    label_errors: ShareChangeOut
    error_rate_change: float | None = Field(
        description="b - a of the error rates (errors of the evaluated samples); null "
        "when a run's evaluated count is unknown"
    )
    error_rate_change_low: float | None = Field(
        description="Its 95% interval (MOVER on the two Wilson intervals; conservative, "
        "since both runs are scored on the same samples)"
    )
    error_rate_change_high: float | None
    error_rate_trend: TrendOut = Field(
        description="`fell` when the interval is all below 0, `rose` when all above, "
        "`unclear` otherwise"
    )
    fixed: list[str] = Field(
        description="Sample ids wrong in a and right in b, over the samples both runs hold "
        "(unfiltered)"
    )
    new: list[str] = Field(description="Sample ids right in a and wrong in b")
    stayed: list[str] = Field(description="Sample ids wrong in both runs")
