"""What the review screen does beyond one save: undo, finishing an error, a cause created
on the spot, and the facts shown beside the error."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound
from app.domain.projects.access import LeadsOnly, ProjectAccess
from app.domain.projects.causes import create_cause
from app.domain.review import annotations as ann
from app.domain.review import queue
from app.domain.review.visibility import visibility_of
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.models import (
    Annotation,
    AnnotationEvent,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    MediaBlob,
    Prediction,
    Run,
    Sample,
    User,
    utcnow,
)

TOP_K = 5
UNDO = "undo"
# The statuses as the history says them: the review screen's words for them.
STATUS_NAMES = {
    AnnotationStatus.IN_PROGRESS: lazy_gettext("in progress"),
    AnnotationStatus.DONE: lazy_gettext("done"),
    AnnotationStatus.SKIPPED: lazy_gettext("skipped"),
    AnnotationStatus.UNSURE: lazy_gettext("unsure"),
}


@dataclass(frozen=True)
class ClassProbability:
    label: str
    probability: float
    is_truth: bool
    is_predicted: bool


def top_probabilities(
    prediction: Prediction, sample: Sample, k: int = TOP_K
) -> list[ClassProbability]:
    """The k likeliest classes; the true label is always among them, so its score is seen."""
    probs = prediction.probs or {}
    ranked = sorted(probs.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked[:k]
    if sample.label in probs and all(label != sample.label for label, _ in shown):
        shown.append((sample.label, probs[sample.label]))
    return [
        ClassProbability(
            label=label,
            probability=float(p),
            is_truth=label == sample.label,
            is_predicted=label == prediction.label,
        )
        for label, p in shown
    ]


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an error's history, as a lead reads it."""

    event: AnnotationEvent
    actor: str
    annotator: str
    summary: str
    # A restore names the version of the annotation it overwrites, which is the
    # annotator's, not the lead's: the lead's own form tracks only the lead's version.
    version: int
    # The lead's own review annotation: its newest version is the one the form holds
    # (autosaves move it on without re-rendering this history).
    mine: bool


def _summary(before: ann.AnnotationState | None, after: ann.AnnotationState) -> str:
    if before is None:
        before = ann.AnnotationState()
    parts: list[str] = []
    added = [
        n
        for i, n in zip(after.cause_ids, after.cause_names, strict=False)
        if i not in before.cause_ids
    ]
    removed = [
        n
        for i, n in zip(before.cause_ids, before.cause_names, strict=False)
        if i not in after.cause_ids
    ]
    if added:
        parts.append(_("added %(names)s", names=", ".join(added)))
    if removed:
        parts.append(_("removed %(names)s", names=", ".join(removed)))
    if after.label_error != before.label_error or after.suggested_label != before.suggested_label:
        if after.label_error:
            parts.append(
                _(
                    "label error (%(label)s)",
                    label=after.suggested_label or _("no suggestion"),
                )
            )
        else:
            parts.append(_("no label error"))
    if after.note != before.note:
        parts.append(_("note edited"))
    if after.status != before.status:
        parts.append(str(STATUS_NAMES.get(after.status, after.status.value)))
    return _("; ").join(parts) or _("no change")


def error_history(
    session: Session, access: ProjectAccess, prediction: Prediction
) -> list[HistoryEntry]:
    """Who changed what on this error, newest first (leads only: it names people, and
    under blind review it would show an annotator everyone's marks)."""
    if not visibility_of(access).reads_history:
        raise LeadsOnly()
    rows = session.execute(
        select(AnnotationEvent, Annotation.annotator_id, Annotation.version, Annotation.kind)
        .join(Annotation, Annotation.id == AnnotationEvent.annotation_id)
        .where(Annotation.prediction_id == prediction.id)
        .order_by(AnnotationEvent.id.desc())
    ).all()
    user_ids = {row[0].actor_id for row in rows} | {row[1] for row in rows}
    names = {
        u.id: u.shown_name
        for u in session.scalars(select(User).where(User.id.in_([i for i in user_ids if i])))
    }
    return [
        HistoryEntry(
            event=event,
            actor=names.get(event.actor_id or 0, _("someone removed")),
            annotator=names.get(owner, _("someone removed")),
            summary=_summary(
                ann.AnnotationState.from_json(event.before) if event.before else None,
                ann.AnnotationState.from_json(event.after),
            ),
            version=version,
            mine=owner == access.user.id and kind == AnnotationKind.REVIEW,
        )
        for event, owner, version, kind in rows
    ]


def _undo_target(events: list[AnnotationEvent]) -> AnnotationEvent | None:
    """The newest change not yet undone: undos pop changes like a stack, so pressing
    undo repeatedly walks back one change at a time, and an undo is never itself undone
    by another undo (that would only toggle between two states)."""
    pending_undos = 0
    for event in reversed(events):
        if event.action == UNDO:
            pending_undos += 1
        elif pending_undos:
            pending_undos -= 1
        else:
            return event
    return None


def undo(
    session: Session, access: ProjectAccess, prediction: Prediction, *, expected_version: int
) -> ann.SaveResult:
    """Bring back the state before this person's last change to this error."""
    annotation = ann.find_annotation(session, prediction.id, access.user.id)
    if annotation is None:
        raise InvalidInput({"undo": _("Nothing to undo on this error yet.")})
    target = _undo_target(ann.history(session, annotation))
    if target is None:
        raise InvalidInput({"undo": _("Nothing left to undo on this error.")})
    wanted = (
        ann.AnnotationState.from_json(target.before) if target.before else ann.AnnotationState()
    )
    existing = set(
        session.scalars(
            select(Cause.id).where(
                Cause.id.in_(wanted.cause_ids), Cause.project_id == access.project.id
            )
        )
    )
    draft = replace(ann.Draft.of(wanted), cause_ids=frozenset(existing))
    result = ann.save(
        session, access, prediction, draft, expected_version=expected_version, action=UNDO
    )
    if not result.changed:
        # Only possible when the change was already reversed by hand: record the undo
        # anyway, so the next undo goes further back instead of finding the same change.
        session.add(
            AnnotationEvent(
                project_id=prediction.project_id,
                annotation_id=annotation.id,
                actor_id=access.user.id,
                action=UNDO,
                version=annotation.version,
                before=result.state.to_json(),
                after=result.state.to_json(),
            )
        )
        session.flush()
    return result


def finish(
    session: Session,
    access: ProjectAccess,
    run: Run,
    prediction: Prediction,
    draft: ann.Draft,
    *,
    expected_version: int,
) -> queue.Offer | None:
    """Save a final verdict (done, skipped, unsure), free the error for others, and
    claim the next one (None: the queue has nothing more for this person)."""
    if draft.status is AnnotationStatus.IN_PROGRESS:
        raise InvalidInput({"status": _("Finishing needs done, skipped or unsure.")})
    result = ann.save(session, access, prediction, draft, expected_version=expected_version)
    if result.annotation.needs_revisit:
        # Looked at again and nothing needed changing: the revisit is answered.
        result.annotation.needs_revisit = False
        # Looked at after the new cause existed: asking again for it must not re-mark it.
        result.annotation.updated_at = utcnow()
        session.flush()
    queue.release(session, access, prediction)
    return queue.next_error(session, access, run)


def ask_revisit(session: Session, access: ProjectAccess, cause_id: int) -> int:
    cause = session.get(Cause, cause_id)
    if cause is None or cause.project_id != access.project.id:
        raise NotFound(_("No such cause in this project."))
    return queue.request_revisit(session, access, cause)


def create_and_apply(
    session: Session,
    access: ProjectAccess,
    prediction: Prediction,
    name: str,
    draft: ann.Draft,
    *,
    expected_version: int,
    allow_similar: bool = False,
) -> tuple[Cause, ann.SaveResult]:
    """A cause discovered on this error: create it (next free key) and tick it here."""
    cause = create_cause(session, access, name, allow_similar=allow_similar)
    with_cause = replace(draft, cause_ids=draft.cause_ids | {cause.id})
    result = ann.save(session, access, prediction, with_cause, expected_version=expected_version)
    return cause, result


def restore(
    session: Session,
    access: ProjectAccess,
    prediction: Prediction,
    event_id: int,
    *,
    expected_version: int,
) -> ann.SaveResult:
    """A lead brings back an earlier state of someone's annotation on this error."""
    access.require_lead()
    annotation = session.scalar(
        select(Annotation)
        .join(AnnotationEvent, AnnotationEvent.annotation_id == Annotation.id)
        .where(AnnotationEvent.id == event_id, Annotation.prediction_id == prediction.id)
    )
    if annotation is None:
        raise NotFound(_("No such change in this error's history."))
    return ann.restore(session, access, annotation, event_id, expected_version=expected_version)


def image_of(session: Session, access: ProjectAccess, sha256: str) -> MediaBlob:
    """An image if a sample of this project shows it (hashes never open other projects)."""
    used = session.scalar(
        select(Sample.id)
        .where(Sample.project_id == access.project.id, Sample.image_sha256 == sha256)
        .limit(1)
    )
    blob = session.get(MediaBlob, sha256) if used is not None else None
    if blob is None:
        raise NotFound(_("No such image in this project."))
    return blob


def run_of(session: Session, access: ProjectAccess, run_name: str) -> Run:
    run = session.scalar(
        select(Run).where(Run.project_id == access.project.id, Run.name == run_name)
    )
    if run is None:
        raise NotFound(_("The project has no run named %(run)s.", run=repr(run_name)))
    return run


def my_state(
    session: Session, access: ProjectAccess, prediction: Prediction
) -> tuple[ann.AnnotationState, int, bool]:
    """This person's state on the error, its version, and whether a revisit is asked."""
    annotation = ann.find_annotation(session, prediction.id, access.user.id, AnnotationKind.REVIEW)
    state = ann.state_of(session, annotation)
    if annotation is None:
        return state, 0, False
    return state, annotation.version, annotation.needs_revisit


@dataclass(frozen=True)
class Settled:
    """A lead's adjudication of an error: the verdict that overrides the vote."""

    state: ann.AnnotationState
    by: str
    at: datetime


def adjudication_of(
    session: Session, access: ProjectAccess, prediction: Prediction
) -> Settled | None:
    """The error's adjudication, for the leads who may revise it (their own review of
    the error is a separate annotation, which alone would read as an empty verdict)."""
    if not access.can_lead:
        return None
    annotation = session.scalar(
        select(Annotation).where(
            Annotation.prediction_id == prediction.id,
            Annotation.kind == AnnotationKind.ADJUDICATION,
        )
    )
    if annotation is None:
        return None
    owner = session.get(User, annotation.annotator_id)
    return Settled(
        state=ann.state_of(session, annotation),
        by=owner.shown_name if owner is not None else "someone removed",
        at=annotation.updated_at,
    )


def record_fields(sample: Sample) -> list[tuple[str, Any]]:
    return list((sample.record or {}).items())
