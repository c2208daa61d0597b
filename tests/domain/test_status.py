"""One definition of done: the rule an error's status follows, in Python and in SQL."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.domain.analysis.sheet import load_run
from app.domain.review.status import (
    EXAMINED_STATUSES,
    ErrorStatus,
    error_status,
    examined_errors,
    run_progress,
)
from app.domain.review.visibility import everything
from app.models import AnnotationKind, AnnotationStatus
from tests.factories import (
    make_annotation,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.oracle import every_row

DONE, UNSURE, SKIPPED, OPEN = (
    AnnotationStatus.DONE,
    AnnotationStatus.UNSURE,
    AnnotationStatus.SKIPPED,
    AnnotationStatus.IN_PROGRESS,
)


def test_an_error_is_done_once_as_many_annotators_as_the_overlap_finished_it() -> None:
    assert error_status([DONE], adjudicated=False, overlap=2) is ErrorStatus.PARTIAL
    assert error_status([DONE, DONE], adjudicated=False, overlap=2) is ErrorStatus.DONE
    assert error_status([DONE, OPEN], adjudicated=False, overlap=2) is ErrorStatus.PARTIAL
    assert error_status([], adjudicated=True, overlap=3) is ErrorStatus.ADJUDICATED
    assert error_status([], adjudicated=False, overlap=1) is ErrorStatus.QUEUED


def test_an_open_error_shows_what_its_annotators_said_most_about_it() -> None:
    assert error_status([OPEN, UNSURE], adjudicated=False, overlap=1) is ErrorStatus.UNSURE
    assert error_status([OPEN, SKIPPED], adjudicated=False, overlap=1) is ErrorStatus.SKIPPED
    assert error_status([OPEN], adjudicated=False, overlap=1) is ErrorStatus.IN_PROGRESS


statuses = st.sampled_from(list(AnnotationStatus))
# Per error: the statuses of up to three annotators' reviews, and of the lead's
# adjudication if there is one.
errors = st.lists(
    st.tuples(st.lists(statuses, max_size=3), st.none() | statuses), min_size=1, max_size=6
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(overlap=st.integers(1, 3), annotated=errors)
def test_the_sql_count_of_examined_errors_is_the_sheets_rule(
    session: Session, overlap: int, annotated: list[tuple[list[AnnotationStatus], object]]
) -> None:
    lead = make_user(session)
    people = [make_user(session) for _ in range(3)]
    project = make_project(session, lead, annotators=people, overlap=overlap)
    run = make_run(session, project)
    for reviews, adjudication in annotated:
        prediction = make_prediction(session, run, make_sample(session, project))
        for person, status in zip(people, reviews, strict=False):
            make_annotation(session, prediction, person, status=status)
        if adjudication is not None:
            make_annotation(
                session, prediction, lead, status=adjudication, kind=AnnotationKind.ADJUDICATION
            )
    expected = sum(
        error_status(reviews, adjudicated=adjudication is DONE, overlap=overlap)
        in EXAMINED_STATUSES
        for reviews, adjudication in annotated
    )
    rows = every_row(session, load_run(session, project, run, seen_by=everything()))
    assert sum(row.examined for row in rows) == expected
    assert examined_errors(session, run) == expected
    assert run_progress(session, project, run).done == expected
