"""Eyeball-set health: big enough to show ~100 errors, and not worn out."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.domain.analysis.health import (
    Reading,
    reading_of,
    set_health,
    size_for,
    worn_out_test,
)
from app.domain.projects.access import get_access
from app.domain.review.status import error_counts
from app.models import Run
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


@pytest.mark.parametrize(
    ("errors", "reading"),
    [
        (0, Reading.VERY_SMALL),
        (10, Reading.VERY_SMALL),
        (19, Reading.VERY_SMALL),
        (20, Reading.ROUGH),
        (49, Reading.ROUGH),
        (50, Reading.GOOD),
        (99, Reading.GOOD),
        (100, Reading.VERY_GOOD),
        (400, Reading.VERY_GOOD),
    ],
)
def test_the_methods_reading_of_the_count(errors: int, reading: Reading) -> None:
    assert reading_of(errors) is reading


def test_the_set_that_would_show_100_errors() -> None:
    assert size_for(100, 0.05) == 2_000  # the method's own example
    assert size_for(100, 0.114) == 878  # 877.19...: one more sample, not one fewer
    assert size_for(100, 0.0) is None
    assert size_for(100, None) is None


def _run(name: str, evaluated: int | None, blackbox: float | None, errors: int) -> Run:
    return Run(name=name, evaluated=evaluated, blackbox_error=blackbox, errors=errors)


def test_worn_out_when_the_eyeball_error_fell_clearly_more_than_the_blackbox_error() -> None:
    # 10 % -> 6 % on the eyeball set (1,000 samples each), 12 % -> 11.5 % on the blackbox
    # set: the eyeball error fell 4 points, the blackbox error 0.5. z = 0.035 / 0.0121.
    worn = worn_out_test(_run("v1", 1000, 0.12, 100), _run("v2", 1000, 0.115, 60))
    assert worn is not None
    assert worn.eyeball_gain == pytest.approx(0.04)
    assert worn.blackbox_gain == pytest.approx(0.005)
    assert worn.z == pytest.approx(2.8927, abs=1e-4)
    assert worn.p_value == pytest.approx(0.00191, abs=1e-5)
    assert worn.likely

    # 10 % -> 8 % against 0.5 points: z = 1.17, p = 0.12, not clear enough.
    fine = worn_out_test(_run("v1", 1000, 0.12, 100), _run("v2", 1000, 0.115, 80))
    assert fine is not None
    assert fine.z == pytest.approx(1.1727, abs=1e-4)
    assert fine.p_value == pytest.approx(0.1205, abs=1e-4)
    assert not fine.likely

    # Without a reported blackbox error, or a count, there is nothing to test.
    assert worn_out_test(_run("v1", 1000, None, 100), _run("v2", 1000, 0.1, 60)) is None
    assert worn_out_test(_run("v1", None, 0.12, 100), _run("v2", 1000, 0.1, 60)) is None


def test_a_runs_health_reads_its_stored_counts(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    v1 = make_run(session, project, name="v1", evaluated=400, blackbox_error=0.12)
    for _ in range(40):
        make_prediction(session, v1, make_sample(session, project, label="cat"), label="dog")
    v2 = make_run(session, project, name="v2", evaluated=400, blackbox_error=0.115)
    for _ in range(12):
        make_prediction(session, v2, make_sample(session, project, label="cat"), label="dog")
    session.flush()
    assert error_counts(session, v2.id)[0] == 12
    access = get_access(session, lead, project.id)

    health = set_health(session, access, "v2")
    assert (health.errors, health.evaluated, health.error_rate) == (12, 400, 0.03)
    assert health.size_for_100 == 3_334
    assert health.reading is Reading.VERY_SMALL
    assert health.too_small
    assert health.worn_out is not None
    assert (health.worn_out.before, health.worn_out.after) == ("v1", "v2")
    assert health.worn_out.likely  # 10 % -> 3 % against 0.5 points

    first = set_health(session, access, "v1")
    assert first.worn_out is None  # no earlier run to compare with
    assert (first.reading, first.size_for_100) == (Reading.ROUGH, 1_000)
    # The same advice in a sentence, as the command line prints it after an import.
    assert (
        health.advice
        == "The eyeball set shows 12 errors: very small; about 100 need 3,334 samples at 3.0%."
    )
    assert (
        first.advice == "The eyeball set shows 40 errors: a rough idea of the causes; "
        "about 100 need 1,000 samples at 10.0%."
    )
