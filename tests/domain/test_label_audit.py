"""The label audit of correct predictions: queued at random, checked, and the corrected
error rate it gives, against hand-worked numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import wilson
from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.projects.access import LeadsOnly, get_access
from app.domain.review import label_audit
from app.domain.review.label_audit import audit_of, corrected_error_rate, queue_audit, record_check
from app.models import AnnotationStatus, LabelCheck, Prediction, Project, Run, User, utcnow
from tests.factories import (
    make_annotation,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def test_the_corrected_error_rate_by_hand() -> None:
    """100 errors in 1,000: 10 of 50 examined errors were the label's fault with the model
    right (r = 0.2), 2 of 100 checked correct predictions have a wrong label (q = 0.02):
    (100 x 0.8 + 900 x 0.02) / 1,000 = 9.8 %, against 10 % observed. The interval takes
    each share's Wilson bounds, r at [0.1124, 0.3304] and q at [0.0055, 0.0700]."""
    rate, low, high = corrected_error_rate(100, 1000, wilson(10, 50), wilson(2, 100))
    assert rate == pytest.approx(0.098)
    assert low == pytest.approx((100 * (1 - 0.330374) + 900 * 0.005502) / 1000, abs=1e-5)
    assert high == pytest.approx((100 * (1 - 0.112436) + 900 * 0.070012) / 1000, abs=1e-5)
    # Nothing examined yet: no correction on the errors' side, and none of its width.
    rate, low, high = corrected_error_rate(100, 1000, wilson(0, 0), wilson(0, 100))
    assert rate == pytest.approx(0.1)
    assert low == pytest.approx(0.1)
    assert high == pytest.approx((100 + 900 * wilson(0, 100).high) / 1000)


def _run_with(session: Session, errors: int, correct: int) -> tuple[Project, Run, User, User]:
    lead, annotator = make_user(session), make_user(session)
    project = make_project(session, lead, labels=["cat", "dog", "fox"], annotators=[annotator])
    run = make_run(session, project, name="v1", evaluated=errors + correct)
    for i in range(errors):
        sample = make_sample(session, project, external_id=f"e{i}", label="cat")
        make_prediction(session, run, sample, label="dog")
    for i in range(correct):
        sample = make_sample(session, project, external_id=f"c{i:02d}", label="cat")
        make_prediction(session, run, sample, label="cat")
    session.flush()
    return project, run, lead, annotator


def test_a_lead_queues_a_random_sample_of_the_correct_predictions(session: Session) -> None:
    project, run, lead, annotator = _run_with(session, errors=4, correct=16)
    access = get_access(session, lead, project.id)
    assert queue_audit(session, access, run, 10) == 10
    queued = session.scalars(
        select(Prediction).join(LabelCheck, LabelCheck.prediction_id == Prediction.id)
    ).all()
    assert len({p.id for p in queued}) == 10
    assert not any(p.is_error for p in queued)  # only correct predictions are audited
    # The rest, and no more: every correct prediction is queued once at most.
    assert queue_audit(session, access, run, 10) == 6
    with pytest.raises(InvalidInput, match="queued already"):
        queue_audit(session, access, run, 1)
    positions = session.scalars(select(LabelCheck.position).order_by(LabelCheck.position)).all()
    assert positions == list(range(1, 17))

    with pytest.raises(LeadsOnly):
        queue_audit(session, get_access(session, annotator, project.id), run, 1)
    with pytest.raises(InvalidInput, match="Between 1 and 5,000"):
        queue_audit(session, access, run, 0)


def test_a_run_of_errors_only_cannot_be_audited(session: Session) -> None:
    project, run, lead, _ = _run_with(session, errors=3, correct=0)
    with pytest.raises(InvalidInput, match="holds no correctly classified predictions"):
        queue_audit(session, get_access(session, lead, project.id), run, 5)


def test_checks_give_the_label_error_rate_among_correct_predictions(session: Session) -> None:
    project, run, lead, annotator = _run_with(session, errors=4, correct=16)
    queue_audit(session, get_access(session, lead, project.id), run, 10)
    access = get_access(session, annotator, project.id)
    answers = [True, False, True, False, False]  # 2 of 5 wrong
    for wrong in answers:
        check = label_audit.next_check(session, access, run)
        assert check is not None
        assert not check.prediction.is_error
        suggested = "fox" if wrong else None
        record_check(
            session, access, run, check.check.id, label_wrong=wrong, suggested_label=suggested
        )
    audit = audit_of(session, run)
    assert (audit.queued, audit.checked, audit.left, audit.correct_stored) == (10, 5, 5, 16)
    assert (audit.wrong.count, audit.wrong.total) == (2, 5)
    # No error examined: (4 + 16 x 0.4) / 20.
    assert audit.corrected_rate == pytest.approx(0.52)
    assert audit.observed_rate == pytest.approx(0.2)
    assert audit.corrected_low is not None
    assert audit.corrected_high is not None
    assert audit.corrected_low < 0.52 < audit.corrected_high
    found = label_audit.found_wrong(session, run)
    assert [(label, suggested) for _, label, suggested in found] == [("cat", "fox")] * 2

    check = label_audit.next_check(session, access, run)
    assert check is not None
    assert check.position == 6
    with pytest.raises(InvalidInput, match="not one of the project's labels"):
        record_check(session, access, run, check.check.id, label_wrong=True, suggested_label="owl")
    with pytest.raises(InvalidInput, match="is the current label"):
        record_check(session, access, run, check.check.id, label_wrong=True, suggested_label="cat")


def test_errors_whose_label_was_wrong_and_the_model_right_lower_the_corrected_rate(
    session: Session,
) -> None:
    project, run, lead, annotator = _run_with(session, errors=4, correct=16)
    errors = session.scalars(
        select(Prediction).where(Prediction.is_error).order_by(Prediction.id)
    ).all()
    # The label of e0 is wrong and the model's "dog" is right; e1's label is wrong but
    # the truth is a fox (still a model error); e2 and e3 are plain model errors.
    make_annotation(
        session,
        errors[0],
        annotator,
        status=AnnotationStatus.DONE,
        label_error=True,
        suggested_label="dog",
    )
    make_annotation(
        session,
        errors[1],
        annotator,
        status=AnnotationStatus.DONE,
        label_error=True,
        suggested_label="fox",
    )
    for prediction in errors[2:]:
        make_annotation(session, prediction, annotator, status=AnnotationStatus.DONE)
    queue_audit(session, get_access(session, lead, project.id), run, 4)
    access = get_access(session, annotator, project.id)
    while (check := label_audit.next_check(session, access, run)) is not None:
        record_check(session, access, run, check.check.id, label_wrong=False)
    audit = audit_of(session, run)
    assert (audit.model_right.count, audit.model_right.total) == (1, 4)
    # (4 x (1 - 1/4) + 16 x 0) / 20
    assert audit.corrected_rate == pytest.approx(0.15)


def test_an_archived_project_takes_no_check(session: Session) -> None:
    project, run, lead, annotator = _run_with(session, errors=1, correct=3)
    queue_audit(session, get_access(session, lead, project.id), run, 1)
    check = session.scalars(select(LabelCheck)).one()
    project.archived_at = utcnow()
    access = get_access(session, annotator, project.id)
    with pytest.raises(PermissionDenied):
        record_check(session, access, run, check.id, label_wrong=False)
    assert check.label_wrong is None
