"""Did our fix work? Per-cause shares of two runs side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import ApiProject, ViewParams
from app.api.responses import FILTERS_DOC, RUN_ERRORS, problem
from app.dependencies import SessionDep
from app.domain.analysis.compare import Comparison, ShareChange, Side, compare_runs
from app.domain.analysis.sheet import Tally
from app.domain.analysis.views import Filters
from app.routing import CheckedRoute
from app.schemas.compare import (
    CauseChangeOut,
    ComparisonOut,
    RunFiguresOut,
    ShareChangeOut,
    SideOut,
)

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


def _side(side: Side) -> SideOut:
    points = side.points
    return SideOut(
        count=side.share.count,
        examined=side.share.total,
        share=side.share.value,
        share_low=side.share.low,
        share_high=side.share.high,
        ceiling_points=points.value if points else None,
        ceiling_points_low=points.low if points else None,
        ceiling_points_high=points.high if points else None,
    )


def change_fields(change: ShareChange) -> dict[str, object]:
    """The fields of `ShareChangeOut`: both differences, and the trend beside the one it
    was judged on (taken from the same `Judgement`, so they cannot disagree)."""
    d, p, judged = change.difference, change.points_difference, change.judged
    t = judged.difference
    return {
        "a": _side(change.a),
        "b": _side(change.b),
        "difference": d.value if d else None,
        "difference_low": d.low if d else None,
        "difference_high": d.high if d else None,
        "points_difference": p.value if p else None,
        "points_difference_low": p.low if p else None,
        "points_difference_high": p.high if p else None,
        "change": judged.trend.value,
        "trend": judged.trend.value,
        "trend_unit": judged.unit.value,
        "trend_difference": t.value if t else None,
        "trend_difference_low": t.low if t else None,
        "trend_difference_high": t.high if t else None,
    }


def _run(footer: Tally) -> RunFiguresOut:
    return RunFiguresOut(
        run=footer.run.name,
        evaluated=footer.evaluated,
        errors=footer.errors,
        examined=footer.examined,
        error_rate=footer.error_rate,
        hidden=footer.hidden_message,
    )


def comparison_out(comparison: Comparison) -> ComparisonOut:
    rate = comparison.error_rate_change
    return ComparisonOut(
        a=_run(comparison.a),
        b=_run(comparison.b),
        filtered=comparison.filtered,
        causes=[
            CauseChangeOut.model_validate(
                {
                    "cause_id": c.column.id,
                    "cause": c.column.name,
                    "group": c.column.group,
                    "archived": c.column.archived,
                    **change_fields(c),
                }
            )
            for c in comparison.causes
        ],
        label_errors=ShareChangeOut.model_validate(change_fields(comparison.label_errors)),
        error_rate_change=rate.value if rate else None,
        error_rate_change_low=rate.low if rate else None,
        error_rate_change_high=rate.high if rate else None,
        error_rate_trend=comparison.error_rate_trend.value,
        fixed=list(comparison.errors.fixed),
        new=list(comparison.errors.new),
        stayed=list(comparison.errors.stayed),
    )


@router.get(
    "/projects/{project_id}/compare",
    name="api_compare",
    response_model=ComparisonOut,
    summary="Did our fix work? Each cause's share in two runs, and the change",
    description=(
        "`runs=a,b`: two run names (or `latest`), the one before and the one after. For "
        "each cause of the project (the same cause in both runs) and for the label-error "
        "flag: its share of each run's examined errors with the 95% Wilson interval, the "
        "points of error rate it accounts for in each run (its ceiling; null when the "
        "run's error rate is unknown), and the difference b - a in share and in points "
        "with 95% intervals (Newcombe's hybrid score / MOVER). The change is judged on one "
        "of the two: in points of error rate when both runs' error rates are known, "
        "otherwise in share of the examined errors. `trend_unit` names that unit and "
        "`trend_difference` (`_low`, `_high`) repeats its difference and interval; "
        "`trend` (and `change`, the same value) says `fell` when that interval is all "
        "below 0, `rose` when all above 0, `unclear` otherwise. A cause "
        "created during the second review was not looked for in the first: its 0 there "
        "means 'not marked', not 'absent'. On top: the change of the error rate with its "
        "interval, and which errors were `fixed` (wrong in a, right in b), `new` (right "
        "in a, wrong in b) and `stayed` wrong, over the samples both runs hold. "
        + FILTERS_DOC
        + " (applied to both runs' tallies; not to fixed, new and stayed)"
    ),
    responses={
        **RUN_ERRORS,
        422: problem(
            "Not exactly two runs, or a bad filter",
            "Name exactly two runs, the one before and the one after, as runs=a,b "
            "(the run names or 'latest'); 1 given.",
        ),
    },
)
def compare(
    params: ViewParams,
    access: ApiProject,
    session: SessionDep,
    runs: Annotated[
        str, Query(min_length=1, description="Two run names, `a,b`", examples=["v1,latest"])
    ],
) -> ComparisonOut:
    filters = Filters.parse(params, params.getlist)
    return comparison_out(compare_runs(session, access, runs, filters))
