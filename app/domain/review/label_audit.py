"""The label audit: a random sample of correctly classified predictions, checked for
wrong labels.

Fixing labels only where the model was wrong biases the error rate down: a sample whose
label is wrong and that the model "got right" (it agreed with the wrong label) is a
model error no error review ever sees. A random sample of the run's correct
predictions, checked, estimates how many there are; with the label errors the review
found among the errors, where the model's answer was the right one, it gives the
corrected error rate:

    corrected = (errors * (1 - r) + correct * q) / evaluated

with r the share of examined errors whose label is wrong and whose suggested label is
the model's prediction (the model was right), and q the share of checked correct
predictions whose label is wrong. Its interval takes each share's 95 % Wilson interval
at the end that moves the rate that way: conservative, not a joint interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import Share, error_rate, wilson
from app.domain.errors import InvalidInput, NotFound
from app.domain.projects.access import ProjectAccess
from app.domain.review.annotations import suggested_label_problem
from app.i18n import format_number
from app.i18n import gettext as _
from app.models import ErrorVerdict, LabelCheck, Prediction, Run, Sample, utcnow

DEFAULT_SIZE = 100
MAX_SIZE = 5_000


@dataclass(frozen=True)
class Audit:
    run: Run
    correct_stored: int  # correctly classified predictions the run holds: the pool
    queued: int
    checked: int
    wrong: Share  # checked correct predictions whose label is wrong
    model_right: Share  # examined errors whose label is wrong and the model was right
    corrected_rate: float | None  # None until something is checked, or evaluated unknown
    corrected_low: float | None
    corrected_high: float | None

    @property
    def observed_rate(self) -> float | None:
        return error_rate(self.run.errors, self.run.evaluated)

    @property
    def left(self) -> int:
        return self.queued - self.checked

    @property
    def may_queue(self) -> int:
        return self.correct_stored - self.queued


@dataclass(frozen=True)
class Check:
    check: LabelCheck
    prediction: Prediction
    sample: Sample
    position: int  # 1-based, in the audit's order
    queued: int


def _counts(session: Session, run: Run) -> tuple[int, int, int]:
    queued, checked, wrong = session.execute(
        select(
            func.count(LabelCheck.id),
            func.count(LabelCheck.label_wrong),
            func.coalesce(func.sum(case((LabelCheck.label_wrong.is_(True), 1), else_=0)), 0),
        ).where(LabelCheck.run_id == run.id)
    ).one()
    return int(queued), int(checked), int(wrong)


def _model_right(session: Session, run: Run) -> Share:
    examined, right = session.execute(
        select(
            func.count(),
            func.coalesce(
                func.sum(
                    case(
                        (
                            and_(
                                ErrorVerdict.label_error,
                                ErrorVerdict.suggested_label == Prediction.label,
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                0,
            ),
        )
        .select_from(ErrorVerdict)
        .join(Prediction, Prediction.id == ErrorVerdict.prediction_id)
        .where(ErrorVerdict.run_id == run.id, ErrorVerdict.examined)
    ).one()
    return wilson(int(right), int(examined))


def corrected_error_rate(
    errors: int, evaluated: int, model_right: Share, wrong: Share
) -> tuple[float, float, float]:
    """The error rate with both kinds of label error corrected, and its conservative
    interval (see the module's docstring)."""
    correct = evaluated - errors
    r = model_right.value or 0.0  # nothing examined: no correction on the errors' side
    r_low, r_high = (model_right.low, model_right.high) if model_right.total else (0.0, 0.0)
    q = wrong.value or 0.0
    rate = (errors * (1 - r) + correct * q) / evaluated
    low = (errors * (1 - r_high) + correct * wrong.low) / evaluated
    high = (errors * (1 - r_low) + correct * wrong.high) / evaluated
    return rate, low, high


def audit_of(session: Session, run: Run) -> Audit:
    correct_stored = (
        session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.run_id == run.id, Prediction.is_error.is_(False))
        )
        or 0
    )
    queued, checked, wrong_count = _counts(session, run)
    wrong = wilson(wrong_count, checked)
    model_right = _model_right(session, run)
    rate = low = high = None
    if checked and run.evaluated:
        rate, low, high = corrected_error_rate(run.errors, run.evaluated, model_right, wrong)
    return Audit(run, correct_stored, queued, checked, wrong, model_right, rate, low, high)


def queue_audit(session: Session, access: ProjectAccess, run: Run, size: int) -> int:
    """Queue a random sample of `size` more correctly classified predictions of the run
    for a label check (leads); returns how many were queued."""
    access.require_open_lead()
    if not 1 <= size <= MAX_SIZE:
        raise InvalidInput(
            {"size": _("Between 1 and %(max)s samples at a time.", max=format_number(MAX_SIZE))}
        )
    pool = session.scalars(
        select(Prediction.id)
        .where(Prediction.run_id == run.id, Prediction.is_error.is_(False))
        .where(~exists().where(LabelCheck.prediction_id == Prediction.id))
        .order_by(Prediction.id)
    ).all()
    if not pool:
        stored = audit_of(session, run).correct_stored
        raise InvalidInput(
            {
                "size": _("Every correctly classified prediction of this run is queued already.")
                if stored
                else _(
                    "This run holds no correctly classified predictions: import its manifest "
                    "with the correct rows too (the whole eyeball set), then audit them."
                )
            }
        )
    start = (
        session.scalar(select(func.max(LabelCheck.position)).where(LabelCheck.run_id == run.id))
        or 0
    )
    # Seeded by the project, so an audit is as reproducible as the review order.
    chosen = random.Random(f"{access.project.queue_seed}:{run.id}:{start}").sample(
        list(pool), min(size, len(pool))
    )
    session.add_all(
        LabelCheck(project_id=run.project_id, run_id=run.id, prediction_id=pid, position=start + i)
        for i, pid in enumerate(chosen, start=1)
    )
    session.flush()
    return len(chosen)


def _check(session: Session, check: LabelCheck, queued: int) -> Check:
    prediction = session.get_one(Prediction, check.prediction_id)
    sample = session.get_one(Sample, prediction.sample_id)
    position = (
        session.scalar(
            select(func.count())
            .select_from(LabelCheck)
            .where(LabelCheck.run_id == check.run_id, LabelCheck.position <= check.position)
        )
        or 0
    )
    return Check(check, prediction, sample, position, queued)


def next_check(session: Session, access: ProjectAccess, run: Run) -> Check | None:
    """The first queued prediction nobody has checked yet; None when all are."""
    check = session.scalar(
        select(LabelCheck)
        .where(LabelCheck.run_id == run.id, LabelCheck.label_wrong.is_(None))
        .order_by(LabelCheck.position)
        .limit(1)
    )
    if check is None:
        return None
    return _check(session, check, _counts(session, run)[0])


def find_check(session: Session, access: ProjectAccess, run: Run, check_id: int) -> Check:
    check = session.get(LabelCheck, check_id)
    if check is None or check.run_id != run.id:
        raise NotFound(_("No such label check in this run."))
    return _check(session, check, _counts(session, run)[0])


def record_check(
    session: Session,
    access: ProjectAccess,
    run: Run,
    check_id: int,
    *,
    label_wrong: bool,
    suggested_label: str | None = None,
    now: datetime | None = None,
) -> LabelCheck:
    """Record whether the label of a queued correct prediction is wrong; checking again
    replaces the earlier answer."""
    if not access.may_annotate:
        access.require_open_lead()  # a visiting admin may check as a lead would
    found = find_check(session, access, run, check_id)
    suggested = (suggested_label or "").strip() or None if label_wrong else None
    if suggested is not None:
        problem = suggested_label_problem(access.project, found.sample.label, suggested)
        if problem:
            raise InvalidInput({"suggested_label": problem})
    check = found.check
    check.label_wrong = label_wrong
    check.suggested_label = suggested
    check.checker_id = access.user.id
    check.checked_at = now or utcnow()
    session.flush()
    return check


def found_wrong(session: Session, run: Run, limit: int = 200) -> list[tuple[str, str, str | None]]:
    """The wrong labels the audit found: (sample id, label, suggested label)."""
    rows = session.execute(
        select(Sample.external_id, Sample.label, LabelCheck.suggested_label)
        .join(Prediction, Prediction.id == LabelCheck.prediction_id)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(LabelCheck.run_id == run.id, LabelCheck.label_wrong.is_(True))
        .order_by(LabelCheck.position)
        .limit(limit)
    ).all()
    return [(r.external_id, r.label, r.suggested_label) for r in rows]
