"""The sheet's rows and footer on a run with known answers (see tests/sheet_data.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.domain.analysis.dashboard import summary
from app.domain.analysis.sheet import load_run
from app.domain.analysis.tally import binary_agreement
from app.domain.analysis.views import (
    Filters,
    Sort,
    label_choices,
    open_sheet,
    tally,
    with_ids,
)
from app.domain.errors import InvalidInput, NotFound
from app.domain.projects.access import get_access
from app.domain.review.status import ErrorStatus
from app.domain.review.visibility import everything
from tests.factories import make_prediction, make_sample, make_user
from tests.oracle import every_row, matches, tally_rows
from tests.sheet_data import Fixture, build


def test_rows_carry_consensus_status_and_disagreement(session: Session) -> None:
    f = build(session)
    data = load_run(session, f.project, f.run, seen_by=everything())
    every = every_row(session, data)
    rows = {r.external_id: r for r in every}
    assert [r.external_id for r in every] == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert rows["e1"].causes == {f.a.id}
    assert rows["e2"].causes == {f.a.id}  # B tied 1:1 and no lead voted
    assert rows["e3"].causes == {f.c.id}  # the tie goes to the lead
    assert not rows["e4"].examined  # one of two annotators so far
    assert rows["e5"].causes == {f.c.id}
    assert rows["e5"].label_error
    assert rows["e5"].suggested_label == "fox"
    assert [rows[k].status for k in sorted(rows)] == [
        ErrorStatus.DONE,
        ErrorStatus.DONE,
        ErrorStatus.DONE,
        ErrorStatus.PARTIAL,
        ErrorStatus.ADJUDICATED,
        ErrorStatus.QUEUED,
    ]
    assert [k for k in sorted(rows) if rows[k].disagreement] == ["e2", "e3"]
    assert data.errors == 6


def test_the_footer_counts_examined_errors_with_intervals_and_ceilings(session: Session) -> None:
    f = build(session)
    footer = tally(session, load_run(session, f.project, f.run, seen_by=everything()))
    assert (footer.rows, footer.examined) == (6, 4)
    assert footer.error_rate == pytest.approx(0.1)
    by_name = {c.column.name: c for c in footer.causes}
    assert by_name["blurry"].share.count == 2
    assert by_name["blurry"].share.value == 0.5
    assert by_name["dark"].share.count == 0
    assert by_name["tiny"].share.count == 2
    ceiling = by_name["blurry"].ceiling
    assert ceiling is not None
    assert ceiling.gain == pytest.approx(0.05)
    assert ceiling.rate_if_fixed == pytest.approx(0.05)
    assert footer.label_errors.count == 1
    assert footer.missing is None
    assert footer.needed == 381 - 4


def test_without_an_evaluated_count_the_ceiling_says_what_is_missing(session: Session) -> None:
    f = build(session, evaluated=None)
    footer = tally(session, load_run(session, f.project, f.run, seen_by=everything()))
    assert footer.error_rate is None
    assert all(c.ceiling is None for c in footer.causes)
    assert footer.missing is not None
    assert "evaluated" in footer.missing


def test_a_filtered_footer_is_the_tally_of_the_slice(session: Session) -> None:
    f = build(session)
    data = load_run(session, f.project, f.run, seen_by=everything())
    night = tally(session, data, Filters(meta_key="time", meta_value="night"))  # e1, e3, e5
    assert (night.rows, night.examined) == (3, 3)
    by_name = {c.column.name: c for c in night.causes}
    assert by_name["blurry"].share.count == 1
    assert by_name["tiny"].share.count == 2
    # Ceilings count the slice's errors against every examined error of the run.
    assert by_name["tiny"].ceiling is not None
    assert by_name["tiny"].ceiling.gain == pytest.approx(0.1 * 2 / 4)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"label_error": "1"}, ["e5"]),
        ({"disagreements": "1"}, ["e2", "e3"]),
        ({"status": "partial"}, ["e4"]),
        ({"no_cause": "1"}, []),
        ({"prediction": "dog", "label": "cat"}, ["e1", "e2", "e3", "e4", "e5", "e6"]),
        ({"meta": "time=day"}, ["e2", "e4", "e6"]),
    ],
)
def test_filters(session: Session, filters: dict[str, str], expected: list[str]) -> None:
    f = build(session)
    access = get_access(session, f.lead, f.project.id)
    parsed = Filters.parse(filters, lambda name: [filters[name]] if name in filters else [])
    view = open_sheet(session, access, "v1", parsed, Sort())
    assert [r.external_id for r in view.rows] == expected
    assert view.tally.rows == len(expected)
    every = every_row(session, view.data)
    assert [r.external_id for r in every if matches(parsed, r)] == expected


def test_filter_by_cause_and_annotator(session: Session) -> None:
    f = build(session)
    access = get_access(session, f.lead, f.project.id)

    def shown(filters: Filters) -> list[str]:
        return [r.external_id for r in open_sheet(session, access, "v1", filters, Sort()).rows]

    assert shown(Filters(causes=frozenset({f.c.id}))) == ["e3", "e5"]
    assert shown(Filters(annotator=f.bob.id)) == ["e1", "e2", "e5"]


def test_causes_and_annotators_may_be_named_instead_of_numbered(session: Session) -> None:
    f = build(session)
    given = [("cause", " TINY "), ("cause", str(f.a.id)), ("annotator", "bob"), ("label", "cat")]
    assert with_ids(session, f.project, given) == [
        ("cause", str(f.c.id)),
        ("cause", str(f.a.id)),
        ("annotator", str(f.bob.id)),
        ("label", "cat"),
    ]
    with pytest.raises(InvalidInput) as refused:
        with_ids(session, f.project, [("cause", "fuzzy"), ("annotator", "nobody")])
    assert refused.value.fields == {
        "cause": "The project has no cause named 'fuzzy'.",
        "annotator": "The project has no annotator called 'nobody'.",
    }
    # Someone who exists on the site but not in this project reads the same: a member
    # cannot probe the site's usernames through the filter.
    make_user(session, "olga")
    with pytest.raises(InvalidInput) as refused:
        with_ids(session, f.project, [("annotator", "olga")])
    assert refused.value.fields == {"annotator": "The project has no annotator called 'olga'."}


def test_bad_filters_and_sorts_are_refused_with_a_reason(session: Session) -> None:
    with pytest.raises(InvalidInput, match="key=value"):
        Filters.parse({"meta": "night"}, lambda _: [])
    with pytest.raises(InvalidInput, match="Status must be one of"):
        Filters.parse({"status": "nope"}, lambda _: [])
    with pytest.raises(InvalidInput, match="cannot be sorted"):
        Sort.parse("-colour")


def test_sorting_and_pages(session: Session) -> None:
    f = build(session)
    access = get_access(session, f.lead, f.project.id)
    view = open_sheet(session, access, "latest", Filters(), Sort.parse("-confidence"), page=2)
    assert view.pages == 1  # six rows fit on a page
    assert [r.external_id for r in view.rows] == ["e6", "e5", "e4", "e3", "e2", "e1"]
    by_cause = open_sheet(session, access, "v1", Filters(), Sort.parse(f"cause:{f.c.id}"))
    assert [r.external_id for r in by_cause.rows][:2] == ["e3", "e5"]
    with pytest.raises(NotFound):
        open_sheet(session, access, "v9", Filters(), Sort())


def test_the_dashboard_is_for_leads_and_the_summary_for_everyone(session: Session) -> None:
    f = build(session)
    board = summary(session, get_access(session, f.ann, f.project.id), "latest")
    assert board.progress.examined == 4
    assert board.progress.by_status[ErrorStatus.QUEUED] == 1
    people = {p.name: p for p in board.progress.annotators}
    assert people["ann"].finished == 5
    assert people["ann"].last_hour == 5
    mine = {t.name: t for t in board.annotators}
    assert mine["ann"].counts[f.a.id] == 4  # e1, e2, e4, e5 in ann's own eyes
    assert mine["ann"].share(f.a.id) == pytest.approx(4 / 5)


@pytest.fixture
def pets(session: Session) -> Fixture:
    return build(session)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cause=st.sampled_from(["a", "b", "c", None]),
    time=st.sampled_from(["night", "day", "dusk", None]),
    flag=st.booleans(),
    label=st.sampled_from(["cat", "dog", None]),
    predicted=st.sampled_from(["dog", "cat", None]),
)
def test_any_filtered_footer_equals_the_count_over_its_rows(
    session: Session,
    pets: Fixture,
    cause: str | None,
    time: str | None,
    flag: bool,
    label: str | None,
    predicted: str | None,
) -> None:
    """Whether the footer is summed over the slice or read from a facet's stored sums
    (one label, one predicted label or one metadata value and nothing else)."""
    f = pets  # built once: every example reads the same run
    data = load_run(session, f.project, f.run, seen_by=everything())
    causes = frozenset({getattr(f, cause).id}) if cause else frozenset()
    filters = Filters(
        causes=causes,
        label=label,
        predicted=predicted,
        meta_key="time" if time else None,
        meta_value=time,
        disagreements=flag,
    )
    footer = tally(session, data, filters)
    every = every_row(session, data)
    kept = [r for r in every if matches(filters, r)]
    assert footer == tally_rows(data, every, kept, filtered=filters.active)
    for cause_tally in footer.causes:
        marked = sum(1 for r in kept if r.examined and cause_tally.column.id in r.causes)
        assert cause_tally.share.count == marked
        assert cause_tally.share.total == sum(1 for r in kept if r.examined)
        value = cause_tally.share.value
        assert value is None or 0 <= value <= 1
        if cause_tally.ceiling is not None and footer.error_rate is not None:
            assert cause_tally.ceiling.gain_high <= footer.error_rate


def test_the_sheets_agreement_is_alpha_over_every_error_finished_twice(session: Session) -> None:
    f = build(session)
    data = load_run(session, f.project, f.run, seen_by=everything())
    footer = tally(session, data)
    pairable = [r for r in every_row(session, data) if len(r.finished) >= 2]
    assert [r.external_id for r in pairable] == ["e1", "e2", "e3", "e5"]
    for cause in footer.causes:
        units = [[cause.column.id in m.causes for m in r.finished] for r in pairable]
        assert cause.agreement == binary_agreement(units)
    by_name = {c.column.name: c.agreement for c in footer.causes}
    # blurry: e1 (1,1) e2 (1,1) e3 (0,0) e5 (1,0): hand-worked as in test_tally.
    assert by_name["blurry"].alpha == pytest.approx(1 - 7 * 2 / (2 * 5 * 3))
    assert by_name["blurry"].percent == pytest.approx(3 / 4)
    assert footer.label_error_agreement.errors == 4


def test_the_label_choices_follow_the_errors_of_the_run(session: Session) -> None:
    f = build(session)
    data = load_run(session, f.project, f.run, seen_by=everything())
    assert label_choices(session, data) == (["cat"], ["dog"])
    # A new error with new labels (as an import adds one): the choices are read anew.
    sample = make_sample(session, f.project, label="fox")
    make_prediction(session, f.run, sample, label="owl")
    data = load_run(session, f.project, f.run, seen_by=everything())
    assert label_choices(session, data) == (["cat", "fox"], ["dog", "owl"])
