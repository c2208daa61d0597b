"""Did our fix work? Each cause's share of the examined errors in two runs, side by side.

Causes belong to the project, so a cause is the same column in both runs and is matched
by id (a rename between the runs changes nothing). Each run's figures are its own
sheet footer (`tally_rows` through `sheet_view.tally`, with the same filters).

The difference b - a gets a 95% interval by MOVER (Newcombe's method 10 when applied
to two Wilson intervals): each side's own interval is combined, so the interval stays
honest for the small counts error analysis works with. Ceilings are taken with the
error rate as exact, as on the sheet, so the interval of a change in points is the
same construction on the scaled intervals.

A change is judged on one difference, in one unit: in points of error rate when both
runs' error rates are known, otherwise in share of the examined errors (`Judgement`).
Its trend and the interval it was judged on travel together, so nothing can show
"fell" beside an interval that holds 0.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from app.domain.analysis.sheet import CauseColumn, Tally, load_run
from app.domain.analysis.tally import Ceiling, Share, wilson
from app.domain.analysis.views import Filters, tally
from app.domain.errors import InvalidInput
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.domain.review.visibility import visibility_of
from app.i18n import gettext as _
from app.models import Prediction, Run, Sample


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval."""

    value: float
    low: float
    high: float


def mover_difference(a: Estimate, b: Estimate) -> Estimate:
    """b - a with the MOVER interval of two independent estimates.

    With Wilson intervals this is Newcombe's hybrid score interval (1998, method 10).
    """
    d = b.value - a.value
    low = d - math.sqrt((b.value - b.low) ** 2 + (a.high - a.value) ** 2)
    high = d + math.sqrt((b.high - b.value) ** 2 + (a.value - a.low) ** 2)
    return Estimate(d, low, high)


def share_estimate(share: Share) -> Estimate | None:
    value = share.value
    return None if value is None else Estimate(value, share.low, share.high)


def points_estimate(ceiling: Ceiling | None) -> Estimate | None:
    """The points of error rate a cause accounts for: what a perfect fix could gain."""
    if ceiling is None or ceiling.gain is None:
        return None
    return Estimate(100 * ceiling.gain, 100 * ceiling.gain_low, 100 * ceiling.gain_high)


class Trend(enum.StrEnum):
    FELL = "fell"
    ROSE = "rose"
    UNCLEAR = "unclear"  # the interval of the difference holds 0, or a side has no data


def trend_of(difference: Estimate | None) -> Trend:
    if difference is None:
        return Trend.UNCLEAR
    if difference.high < 0:
        return Trend.FELL
    if difference.low > 0:
        return Trend.ROSE
    return Trend.UNCLEAR


class Unit(enum.StrEnum):
    """What a difference is measured in."""

    POINTS = "points"  # points of error rate (percentage points)
    SHARE = "share"  # share of the examined errors, 0 to 1


@dataclass(frozen=True)
class Judgement:
    """The difference a change is judged on, in its unit, and the verdict it gives."""

    unit: Unit
    difference: Estimate | None  # None when a side has nothing to go on

    @property
    def trend(self) -> Trend:
        return trend_of(self.difference)


@dataclass(frozen=True)
class Side:
    """One cause (or the label-error flag) in one run."""

    share: Share  # of the run's examined errors (in the slice, when filtered)
    ceiling: Ceiling | None  # None when the run's error rate is unknown

    @property
    def points(self) -> Estimate | None:
        return points_estimate(self.ceiling)


@dataclass(frozen=True)
class ShareChange:
    a: Side
    b: Side

    @property
    def difference(self) -> Estimate | None:
        """b - a in share of the examined errors; None when a run has examined none."""
        a, b = share_estimate(self.a.share), share_estimate(self.b.share)
        return None if a is None or b is None else mover_difference(a, b)

    @property
    def points_difference(self) -> Estimate | None:
        """b - a in points of error rate; None when a run's error rate is unknown."""
        a, b = self.a.points, self.b.points
        return None if a is None or b is None else mover_difference(a, b)

    @property
    def judged(self) -> Judgement:
        """In points when both error rates are known: a cause can keep its share of
        fewer errors, and then it did fall. Otherwise on the shares."""
        if self.a.ceiling is not None and self.b.ceiling is not None:
            return Judgement(Unit.POINTS, self.points_difference)
        return Judgement(Unit.SHARE, self.difference)

    @property
    def trend(self) -> Trend:
        return self.judged.trend


@dataclass(frozen=True)
class CauseChange(ShareChange):
    column: CauseColumn


@dataclass(frozen=True)
class ErrorChanges:
    """What became of the errors, over the samples both runs hold (external ids, sorted):
    the question a new model version answers first."""

    fixed: tuple[str, ...]  # wrong in a, right in b
    new: tuple[str, ...]  # right in a, wrong in b
    stayed: tuple[str, ...]  # wrong in both


NO_CHANGES = ErrorChanges((), (), ())


@dataclass(frozen=True)
class Comparison:
    a: Tally
    b: Tally
    causes: tuple[CauseChange, ...]
    label_errors: ShareChange
    filtered: bool
    errors: ErrorChanges = NO_CHANGES

    @property
    def error_rate_change(self) -> Estimate | None:
        """b - a of the error rates (errors of the evaluated samples), with its MOVER
        interval; None when a run's evaluated count is unknown."""
        a, b = error_rate_estimate(self.a), error_rate_estimate(self.b)
        return None if a is None or b is None else mover_difference(a, b)

    @property
    def error_rate_trend(self) -> Trend:
        return trend_of(self.error_rate_change)


def error_rate_estimate(footer: Tally) -> Estimate | None:
    """The run's error rate with its 95% Wilson interval over the evaluated samples."""
    evaluated = footer.evaluated
    if not evaluated or footer.errors > evaluated:
        return None
    rate = wilson(footer.errors, evaluated)
    return Estimate(footer.errors / evaluated, rate.low, rate.high)


def error_changes(session: Session, run_a: Run, run_b: Run) -> ErrorChanges:
    """Fixed, new and stayed errors: one query over the two runs' errors, joined on the
    sample (samples only one run holds are in none of the three)."""
    a, b = aliased(Prediction), aliased(Prediction)
    fixed: list[str] = []
    new: list[str] = []
    stayed: list[str] = []
    rows = session.execute(
        select(Sample.external_id, a.is_error, b.is_error)
        .join(a, a.sample_id == Sample.id)
        .join(b, b.sample_id == Sample.id)
        .where(a.run_id == run_a.id, b.run_id == run_b.id, or_(a.is_error, b.is_error))
        .order_by(Sample.external_id)
    )
    for external_id, wrong_before, wrong_now in rows:
        if wrong_before and wrong_now:
            stayed.append(external_id)
        elif wrong_before:
            fixed.append(external_id)
        else:
            new.append(external_id)
    return ErrorChanges(tuple(fixed), tuple(new), tuple(stayed))


def parse_run_pair(value: str) -> tuple[str, str]:
    """`a,b`: exactly two run names (or `latest`)."""
    names = [n.strip() for n in value.split(",")]
    if len(names) != 2 or not all(names):
        given = len([n for n in names if n])
        raise InvalidInput(
            {
                "runs": _(
                    "Name exactly two runs, the one before and the one after, "
                    "as runs=a,b (the run names or 'latest'); %(given)s given.",
                    given=given,
                )
            }
        )
    return names[0], names[1]


def _side(footer: Tally, column: CauseColumn) -> Side:
    found = next((c for c in footer.causes if c.column.id == column.id), None)
    if found is not None:
        return Side(found.share, found.ceiling)
    # Not a column of this run: an archived cause that none of its errors carries.
    ceiling = (
        Ceiling(footer.error_rate, wilson(0, footer.examined_in_run))
        if footer.error_rate is not None
        else None
    )
    return Side(wilson(0, footer.examined), ceiling)


def compare_tallies(a: Tally, b: Tally) -> Comparison:
    """Cause by cause, in the project's cause order (then the archived causes only `a`
    still shows); a cause that is a column in one run only counts 0 in the other."""
    columns: dict[int, CauseColumn] = {}
    for footer in (b, a):
        for cause in footer.causes:
            columns.setdefault(cause.column.id, cause.column)
    causes = tuple(
        CauseChange(a=_side(a, column), b=_side(b, column), column=column)
        for column in columns.values()
    )
    label_errors = ShareChange(
        a=Side(a.label_errors, a.label_error_ceiling),
        b=Side(b.label_errors, b.label_error_ceiling),
    )
    return Comparison(a, b, causes, label_errors, filtered=a.filtered or b.filtered)


def compare_runs(
    session: Session, access: ProjectAccess, runs: str, filters: Filters = Filters()
) -> Comparison:
    """The two runs named in `runs` (`a,b`), each tallied over the same filters."""
    first, second = parse_run_pair(runs)
    project = access.project
    run_a, run_b = resolve_run(session, project, first), resolve_run(session, project, second)
    return compare_pair(session, access, run_a, run_b, filters)


def compare_pair(
    session: Session, access: ProjectAccess, run_a: Run, run_b: Run, filters: Filters = Filters()
) -> Comparison:
    """Two runs of the project, each tallied over the same filters, and what became of
    their errors (over the whole runs: the filters pick examined errors)."""
    project, seen_by = access.project, visibility_of(access)
    comparison = compare_tallies(
        tally(session, load_run(session, project, run_a, seen_by=seen_by), filters),
        tally(session, load_run(session, project, run_b, seen_by=seen_by), filters),
    )
    return replace(comparison, errors=error_changes(session, run_a, run_b))
