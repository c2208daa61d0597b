"""Comparing two runs: each cause's share and points in both, and whether it changed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.domain.analysis.compare import (
    ErrorChanges,
    Estimate,
    ShareChange,
    Side,
    Trend,
    Unit,
    compare_runs,
    mover_difference,
    parse_run_pair,
    share_estimate,
    trend_of,
)
from app.domain.analysis.tally import Ceiling, wilson
from app.domain.analysis.views import Filters
from app.domain.errors import InvalidInput, NotFound
from app.domain.projects.access import ProjectAccess, get_access
from app.models import AnnotationStatus, Cause, Project, Run, User, utcnow
from tests.factories import (
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def test_the_difference_interval_is_newcombes() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a):
    # 56/70 - 48/80 = 0.2000, method 10 interval 0.0524 to 0.3339.
    before, after = share_estimate(wilson(48, 80)), share_estimate(wilson(56, 70))
    assert before is not None
    assert after is not None
    d = mover_difference(before, after)
    assert d.value == pytest.approx(0.2)
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    # Swapping the runs mirrors the interval.
    back = mover_difference(after, before)
    assert (back.low, back.high) == pytest.approx((-d.high, -d.low))


def test_a_change_is_claimed_only_when_its_interval_excludes_zero() -> None:
    assert trend_of(Estimate(-0.3, -0.5, -0.1)) is Trend.FELL
    assert trend_of(Estimate(0.3, 0.1, 0.5)) is Trend.ROSE
    assert trend_of(Estimate(-0.3, -0.6, 0.01)) is Trend.UNCLEAR
    assert trend_of(None) is Trend.UNCLEAR


@st.composite
def sides(draw: st.DrawFn) -> Side:
    """One cause in one run, from random counts: `count` of the slice's `examined`
    errors, the slice within the run's examined errors, and maybe a known error rate."""
    examined_in_run = draw(st.integers(0, 60))
    examined = draw(st.integers(0, examined_in_run))
    count = draw(st.integers(0, examined))
    rate = draw(st.none() | st.floats(0.0, 1.0, allow_nan=False))
    ceiling = None if rate is None else Ceiling(rate, wilson(count, examined_in_run))
    return Side(wilson(count, examined), ceiling)


share_changes = st.builds(ShareChange, a=sides(), b=sides())


@given(share_changes)
def test_the_trend_agrees_with_the_interval_it_was_judged_on(change: ShareChange) -> None:
    judged = change.judged
    both_rates = change.a.ceiling is not None and change.b.ceiling is not None
    assert judged.unit is (Unit.POINTS if both_rates else Unit.SHARE)
    assert judged.difference == (
        change.points_difference if judged.unit is Unit.POINTS else change.difference
    )
    assert change.trend is judged.trend
    d = judged.difference
    if change.trend is Trend.FELL:
        assert d is not None
        assert d.high < 0
    elif change.trend is Trend.ROSE:
        assert d is not None
        assert d.low > 0
    else:
        assert d is None or d.low <= 0 <= d.high


@pytest.mark.parametrize(
    ("value", "pair"),
    [("v1,v2", ("v1", "v2")), (" v1 , latest ", ("v1", "latest")), ("v1,v1", ("v1", "v1"))],
)
def test_two_run_names(value: str, pair: tuple[str, str]) -> None:
    assert parse_run_pair(value) == pair


@pytest.mark.parametrize("value", ["", "v1", "v1,", ",v2", "v1,v2,v3"])
def test_anything_but_two_names_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="exactly two runs"):
        parse_run_pair(value)


@dataclass
class TwoRuns:
    project: Project
    lead: User
    annotator: User
    before: Run
    after: Run
    blurry: Cause
    dark: Cause
    old: Cause


def _errors(
    session: Session,
    project: Project,
    run: Run,
    annotator: User,
    marks: list[tuple[int, list[Cause]]],
) -> None:
    """`n` errors marked with these causes, finished by one annotator, for each entry."""
    for n, causes in marks:
        for _ in range(n):
            sample = make_sample(session, project, label="cat", meta={"light": "night"})
            prediction = make_prediction(session, run, sample, label="dog")
            make_annotation(
                session, prediction, annotator, status=AnnotationStatus.DONE, causes=causes
            )
    session.flush()


def two_runs(session: Session, *, evaluated: int | None = 200) -> TwoRuns:
    """v1: 40 errors of 200, half of them blurry. v2 fixed blurriness: 20 errors, 2 blurry;
    dark stays at 8 errors, so its share doubles while its points stay the same."""
    lead, annotator = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[annotator], overlap=1)
    blurry, dark, old = (make_cause(session, project, name) for name in ("blurry", "dark", "old"))
    before = make_run(session, project, name="v1", evaluated=evaluated)
    _errors(
        session,
        project,
        before,
        annotator,
        [(16, [blurry]), (4, [blurry, dark]), (4, [dark]), (4, [old]), (12, [])],
    )
    after = make_run(session, project, name="v2", evaluated=evaluated)
    _errors(session, project, after, annotator, [(2, [blurry]), (8, [dark]), (10, [])])
    # Retired after v1: still a column of v1, no longer one of v2.
    old.archived_at = utcnow()
    session.flush()
    return TwoRuns(project, lead, annotator, before, after, blurry, dark, old)


def _access(session: Session, runs: TwoRuns) -> ProjectAccess:
    return get_access(session, runs.annotator, runs.project.id)


def test_the_fixed_cause_fell_and_the_other_did_not(session: Session) -> None:
    runs = two_runs(session)
    comparison = compare_runs(session, _access(session, runs), "v1,latest")
    assert (comparison.a.run.name, comparison.b.run.name) == ("v1", "v2")
    assert (comparison.a.error_rate, comparison.b.error_rate) == (0.2, 0.1)
    by_name = {c.column.name: c for c in comparison.causes}
    assert list(by_name) == ["blurry", "dark", "old"]

    blurry = by_name["blurry"]
    assert (blurry.a.share.count, blurry.a.share.total) == (20, 40)
    assert (blurry.b.share.count, blurry.b.share.total) == (2, 20)
    assert blurry.difference is not None
    assert blurry.difference.value == pytest.approx(-0.4)
    assert blurry.points_difference is not None
    assert blurry.points_difference.value == pytest.approx(1.0 - 10.0)  # 0.1·0.1 - 0.2·0.5
    assert blurry.judged.unit is Unit.POINTS
    assert blurry.trend is Trend.FELL

    # Dark doubled its share of the errors, yet accounts for the same 4 points of error
    # rate: the fix for blurriness did nothing for it, and nothing against it.
    dark = by_name["dark"]
    assert dark.difference is not None
    assert dark.difference.value == pytest.approx(0.2)
    assert dark.points_difference is not None
    assert dark.points_difference.value == pytest.approx(0.0)
    assert dark.a.points is not None
    assert dark.a.points.value == pytest.approx(4.0)
    assert dark.trend is Trend.UNCLEAR

    # A cause archived after v1 is matched by id and counts 0 in v2.
    old = by_name["old"]
    assert old.column.archived
    assert (old.a.share.count, old.b.share.count, old.b.share.total) == (4, 0, 20)

    assert comparison.label_errors.difference is not None
    assert comparison.label_errors.difference.value == 0
    assert comparison.label_errors.trend is Trend.UNCLEAR
    assert not comparison.filtered


def test_without_error_rates_the_change_is_judged_on_shares(session: Session) -> None:
    runs = two_runs(session, evaluated=None)
    comparison = compare_runs(session, _access(session, runs), "v1,v2")
    blurry = next(c for c in comparison.causes if c.column.name == "blurry")
    assert blurry.a.points is None
    assert blurry.points_difference is None
    assert (blurry.judged.unit, blurry.judged.difference) == (Unit.SHARE, blurry.difference)
    assert blurry.trend is Trend.FELL
    dark = next(c for c in comparison.causes if c.column.name == "dark")
    assert dark.trend is Trend.UNCLEAR  # +0.2 of the errors, but 8 of 20 is little to go on


def test_the_sheets_filters_slice_both_runs(session: Session) -> None:
    runs = two_runs(session)
    sliced = compare_runs(
        session,
        _access(session, runs),
        "v1,v2",
        Filters(causes=frozenset({runs.dark.id})),
    )
    assert sliced.filtered
    assert (sliced.a.examined, sliced.b.examined) == (8, 8)
    dark = next(c for c in sliced.causes if c.column.name == "dark")
    assert (dark.a.share.value, dark.b.share.value) == (1.0, 1.0)


def test_an_unknown_run_is_named(session: Session) -> None:
    runs = two_runs(session)
    with pytest.raises(NotFound, match="no run named 'v3'"):
        compare_runs(session, _access(session, runs), "v1,v3")


def test_a_run_with_nothing_examined_has_no_difference(session: Session) -> None:
    runs = two_runs(session)
    make_run(session, runs.project, name="v3", evaluated=200)
    comparison = compare_runs(session, _access(session, runs), "v2,v3")
    blurry = next(c for c in comparison.causes if c.column.name == "blurry")
    assert blurry.b.share.total == 0
    assert (blurry.difference, blurry.points_difference) == (None, None)
    assert blurry.trend is Trend.UNCLEAR


def test_fixed_new_and_stayed_errors_over_the_samples_both_runs_hold(session: Session) -> None:
    """s1 fixed, s2 and s3 stayed wrong, s4 newly wrong, s5 right in both; s6 is only in
    the second run, so it is none of the three."""
    lead = make_user(session)
    project = make_project(session, lead)
    samples = {
        name: make_sample(session, project, external_id=name, label="cat")
        for name in ("s1", "s2", "s3", "s4", "s5", "s6")
    }
    before = make_run(session, project, name="v1", evaluated=5)
    after = make_run(session, project, name="v2", evaluated=6)
    for name, wrong in {"s1": True, "s2": True, "s3": True, "s4": False, "s5": False}.items():
        make_prediction(session, before, samples[name], label="dog" if wrong else "cat")
    for name, wrong in {
        "s1": False,
        "s2": True,
        "s3": True,
        "s4": True,
        "s5": False,
        "s6": True,
    }.items():
        make_prediction(session, after, samples[name], label="dog" if wrong else "cat")
    session.flush()
    comparison = compare_runs(session, get_access(session, lead, project.id), "v1,v2")
    assert comparison.errors == ErrorChanges(fixed=("s1",), new=("s4",), stayed=("s2", "s3"))
    # 3 of 5 wrong, then 4 of 6: Wilson intervals (0.2307, 0.8824) and (0.3000, 0.9032),
    # MOVER difference 0.0667 in (-0.3961, 0.5052): no claim either way.
    change = comparison.error_rate_change
    assert change is not None
    assert (round(change.value, 4), round(change.low, 4), round(change.high, 4)) == (
        0.0667,
        -0.3961,
        0.5052,
    )
    assert comparison.error_rate_trend is Trend.UNCLEAR


def test_the_error_rate_fell_when_its_interval_is_below_zero(session: Session) -> None:
    runs = two_runs(session)  # 40 of 200 wrong, then 20 of 200
    comparison = compare_runs(session, _access(session, runs), "v1,v2")
    change = comparison.error_rate_change
    assert change is not None
    assert (round(change.value, 4), round(change.low, 4), round(change.high, 4)) == (
        -0.1,
        -0.1699,
        -0.03,
    )
    assert comparison.error_rate_trend is Trend.FELL
    # Different samples in each run: nothing to call fixed, new or stayed.
    assert comparison.errors == ErrorChanges((), (), ())

    unknown = compare_runs(session, _access(session, two_runs(session, evaluated=None)), "v1,v2")
    assert unknown.error_rate_change is None
    assert unknown.error_rate_trend is Trend.UNCLEAR
