"""The work queue: which error an annotator looks at next.

Errors are served in the project's fixed random order (`Prediction.review_order`),
so the reviewed part is always a random sample and every annotator's path is
reproducible. With `overlap = k` an error is offered until k annotators have
finished it; nobody gets an error they finished, skipped or marked unsure again,
except when a lead asks for a revisit.

Two annotators asking for "next" at the same moment must not get the same error
while another unclaimed one remains: the one who asks first holds a short lease
(`ReviewLease`). Claims are serialised per run: on SQLite every writer already
holds the database lock from its first statement (BEGIN IMMEDIATE); on PostgreSQL
a transaction-scoped advisory lock on the run does the same for claims only, so
saves never wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, exists, func, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import ScalarSelect

from app.domain.errors import NotFound
from app.domain.projects.access import ProjectAccess
from app.domain.review.status import examined_errors, under_review
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    Prediction,
    Project,
    ReviewLease,
    ReviewOrder,
    Run,
    Sample,
    utcnow,
)

# Long enough to look at one error; short enough that an abandoned tab frees it soon.
LEASE_SECONDS = 300
# Separates our advisory locks from any other user of pg_advisory_xact_lock.
_LOCK_NAMESPACE = 0x4579_6562  # "Eyeb"

# An annotator is through with an error (it leaves their queue) once they finished it,
# skipped it or marked it unsure. Not `verdicts.FINISHED`: only a finished review counts
# in the consensus.
THROUGH = (AnnotationStatus.DONE, AnnotationStatus.SKIPPED, AnnotationStatus.UNSURE)


@dataclass(frozen=True)
class Offer:
    prediction: Prediction
    sample: Sample
    revisit: bool  # finished before, offered again because a lead asked


@dataclass(frozen=True)
class QueueProgress:
    my_done: int
    my_total: int  # what I finished (done, skipped, unsure) plus what the queue can still give me
    team_done: int  # errors examined: see review.status
    total: int  # errors under review in the run


def _lock_run(session: Session, run_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :run)"),
            {"namespace": _LOCK_NAMESPACE, "run": run_id},
        )


def _mine(user_id: int) -> ColumnElement[bool]:
    return and_(
        Annotation.prediction_id == Prediction.id,
        Annotation.annotator_id == user_id,
        Annotation.kind == AnnotationKind.REVIEW,
    )


def _done_by_others(user_id: int) -> ScalarSelect[int]:
    return (
        select(func.count(Annotation.id))
        .where(
            Annotation.prediction_id == Prediction.id,
            Annotation.annotator_id != user_id,
            Annotation.kind == AnnotationKind.REVIEW,
            Annotation.status == AnnotationStatus.DONE,
        )
        .scalar_subquery()
    )


def _leased_by_others(user_id: int, now: datetime) -> ScalarSelect[int]:
    return (
        select(func.count(ReviewLease.id))
        .where(
            ReviewLease.prediction_id == Prediction.id,
            ReviewLease.user_id != user_id,
            ReviewLease.expires_at > now,
        )
        .scalar_subquery()
    )


def _in_order(query: Select[Prediction], project: Project) -> Select[Prediction]:
    if project.review_order == ReviewOrder.SUSPECTS:
        # Lowest probability of the given label first; errors without probabilities
        # follow in the random order.
        query = query.order_by(case((Prediction.p_label.is_(None), 1), else_=0), Prediction.p_label)
    return query.order_by(
        case((Prediction.review_order.is_(None), 1), else_=0),
        Prediction.review_order,
        Prediction.id,
    )


def _pick(session: Session, access: ProjectAccess, run: Run, now: datetime) -> Offer | None:
    user_id = access.user.id
    mine = _mine(user_id)

    # 1. What I was already looking at (a reload, a second "next"): the same error again.
    held = session.scalar(
        _in_order(
            under_review(run)
            .join(ReviewLease, ReviewLease.prediction_id == Prediction.id)
            .where(ReviewLease.user_id == user_id, ReviewLease.expires_at > now)
            .where(~exists().where(mine, Annotation.status.in_(THROUGH))),
            access.project,
        ).limit(1)
    )
    if held is not None:
        return _offer(session, held, revisit=_is_revisit(session, held, user_id))

    # 2. Revisits a lead asked for, before new work: they were asked for on purpose.
    revisit = session.scalar(
        _in_order(
            under_review(run).where(exists().where(mine, Annotation.needs_revisit)), access.project
        ).limit(1)
    )
    if revisit is not None:
        return _offer(session, revisit, revisit=True)

    # 3. My own unfinished work, then fresh errors with room left under the overlap.
    #    Errors nobody else holds come first, so simultaneous "next"s spread out.
    leased = _leased_by_others(user_id, now)
    started = exists().where(mine, Annotation.status == AnnotationStatus.IN_PROGRESS)
    fresh = session.scalar(
        _in_order(
            under_review(run)
            .where(~exists().where(mine, Annotation.status.in_(THROUGH)))
            .where(started | (_done_by_others(user_id) + leased < access.project.overlap))
            .order_by(case((started, 0), else_=1), case((leased > 0, 1), else_=0)),
            access.project,
        ).limit(1)
    )
    if fresh is None:
        return None
    return _offer(session, fresh, revisit=False)


def _offer(session: Session, prediction: Prediction, *, revisit: bool) -> Offer:
    sample = session.get(Sample, prediction.sample_id)
    assert sample is not None  # the composite foreign key guarantees it
    return Offer(prediction=prediction, sample=sample, revisit=revisit)


def _is_revisit(session: Session, prediction: Prediction, user_id: int) -> bool:
    return bool(
        session.scalar(
            select(Annotation.needs_revisit).where(
                Annotation.prediction_id == prediction.id,
                Annotation.annotator_id == user_id,
                Annotation.kind == AnnotationKind.REVIEW,
            )
        )
    )


def next_error(
    session: Session, access: ProjectAccess, run: Run, *, now: datetime | None = None
) -> Offer | None:
    """Claim and return the error this annotator should look at next (None: nothing left)."""
    if run.project_id != access.project.id:
        raise NotFound(_("No such run in this project."))
    now = now or utcnow()
    _lock_run(session, run.id)
    offer = _pick(session, access, run, now)
    if offer is not None:
        hold(session, access, offer.prediction, now=now)
    return offer


def hold(
    session: Session, access: ProjectAccess, prediction: Prediction, *, now: datetime | None = None
) -> None:
    """Lease this error to the user (a jump, or a renewal while they work on it).

    One person looks at one error at a time, so their other leases end here.
    """
    if not access.may_annotate:
        return  # a visiting admin or a read-only project claims nothing
    now = now or utcnow()
    user_id = access.user.id
    session.flush()
    # Plain statements on the connection: no lease is ever loaded as an object, so the
    # ORM's bookkeeping for these (it cost more than the statements) buys nothing.
    db = session.connection()
    db.execute(
        delete(ReviewLease).where(
            ReviewLease.user_id == user_id, ReviewLease.prediction_id != prediction.id
        )
    )
    expires = now + timedelta(seconds=LEASE_SECONDS)
    renewed = db.execute(
        update(ReviewLease)
        .where(ReviewLease.user_id == user_id, ReviewLease.prediction_id == prediction.id)
        .values(expires_at=expires)
    )
    if renewed.rowcount == 0:
        db.execute(
            insert(ReviewLease).values(
                prediction_id=prediction.id, user_id=user_id, expires_at=expires
            )
        )


def release(session: Session, access: ProjectAccess, prediction: Prediction) -> None:
    """The annotator is finished with this error (done, skipped, unsure): others may have it."""
    session.execute(
        delete(ReviewLease).where(
            ReviewLease.user_id == access.user.id, ReviewLease.prediction_id == prediction.id
        )
    )


def find_error(session: Session, access: ProjectAccess, run: Run, external_id: str) -> Offer:
    """Any error of the run by its sample's id: annotators may jump to one from the sheet."""
    row = session.execute(
        select(Prediction, Sample)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(
            Prediction.run_id == run.id,
            Prediction.project_id == access.project.id,
            Sample.external_id == external_id,
        )
    ).first()
    if row is None:
        raise NotFound(
            _("Run %(run)s has no sample %(sample)s.", run=repr(run.name), sample=repr(external_id))
        )
    prediction, sample = row
    return Offer(
        prediction=prediction,
        sample=sample,
        revisit=_is_revisit(session, prediction, access.user.id),
    )


def previous_error(
    session: Session, access: ProjectAccess, run: Run, current: Prediction
) -> Offer | None:
    """The error this annotator worked on before the current one (what `←` opens)."""
    mine = select(Annotation).where(
        Annotation.annotator_id == access.user.id,
        Annotation.kind == AnnotationKind.REVIEW,
        Annotation.project_id == access.project.id,
    )
    current_started = session.scalar(
        mine.with_only_columns(Annotation.created_at).where(Annotation.prediction_id == current.id)
    )
    query = (
        select(Prediction)
        .join(Annotation, Annotation.prediction_id == Prediction.id)
        .where(
            Annotation.annotator_id == access.user.id,
            Annotation.kind == AnnotationKind.REVIEW,
            Prediction.run_id == run.id,
            Prediction.id != current.id,
        )
        .order_by(Annotation.created_at.desc(), Annotation.id.desc())
        .limit(1)
    )
    if current_started is not None:
        query = query.where(Annotation.created_at <= current_started)
    prediction = session.scalar(query)
    if prediction is None:
        return None
    return _offer(session, prediction, revisit=_is_revisit(session, prediction, access.user.id))


def progress(
    session: Session, access: ProjectAccess, run: Run, *, now: datetime | None = None
) -> QueueProgress:
    now = now or utcnow()
    user_id = access.user.id
    mine = _mine(user_id)
    total = (
        session.scalar(
            select(func.count()).select_from(under_review(run).subquery())  # errors in review
        )
        or 0
    )
    my_done = (
        session.scalar(
            select(func.count()).select_from(
                under_review(run)
                .where(exists().where(mine, Annotation.status == AnnotationStatus.DONE))
                .subquery()
            )
        )
        or 0
    )
    # Skipped and unsure count in the total as finished by me: a skip must not make the
    # total shrink (it leaves `still_mine` without joining `my_done`).
    my_finished = (
        session.scalar(
            select(func.count()).select_from(
                under_review(run)
                .where(exists().where(mine, Annotation.status.in_(THROUGH)))
                .subquery()
            )
        )
        or 0
    )
    still_mine = (
        session.scalar(
            select(func.count()).select_from(
                under_review(run)
                .where(~exists().where(mine, Annotation.status.in_(THROUGH)))
                .where(_done_by_others(user_id) < access.project.overlap)
                .subquery()
            )
        )
        or 0
    )
    team_done = examined_errors(session, run)
    return QueueProgress(
        my_done=my_done, my_total=my_finished + still_mine, team_done=team_done, total=total
    )


def request_revisit(session: Session, access: ProjectAccess, cause: Cause) -> int:
    """Ask annotators to look again at errors they finished before `cause` existed.

    Returns how many annotations are now marked. Only the flag moves: the people's
    decisions are untouched until they save again.
    """
    access.require_lead()
    if cause.project_id != access.project.id:
        raise NotFound(_("No such cause in this project."))
    result = session.execute(
        update(Annotation)
        .where(
            Annotation.project_id == access.project.id,
            Annotation.kind == AnnotationKind.REVIEW,
            Annotation.status == AnnotationStatus.DONE,
            Annotation.updated_at < cause.created_at,
            ~Annotation.needs_revisit,
        )
        .values(needs_revisit=True)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return int(result.rowcount)  # type: ignore[attr-defined]
