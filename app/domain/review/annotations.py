"""Saving an annotation: the one write path for the review screen, the API, adjudication,
merges and restores. Every accepted change appends an event holding the full state
before and after, so nothing a person typed is ever lost.

Concurrency: a save names the version it was based on. A stale version is refused
with the current state (StaleAnnotation), never applied blindly. Two writers racing
past that check are still caught, by the version column (UPDATE ... WHERE version)
and by the unique (prediction, annotator, kind) constraint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app import metrics
from app.domain import live, verdicts
from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.domain.projects.access import ProjectAccess
from app.i18n import format_number
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationEvent,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    CauseGroup,
    GroupKind,
    Prediction,
    Project,
    Sample,
    User,
    utcnow,
)

MAX_NOTE = 10_000


@dataclass(frozen=True)
class AnnotationState:
    """Everything a person decides about one error, as stored in events."""

    cause_ids: tuple[int, ...] = ()
    cause_names: tuple[str, ...] = ()  # names at the time, for history that outlives renames
    label_error: bool = False
    suggested_label: str | None = None
    note: str = ""
    status: AnnotationStatus = AnnotationStatus.IN_PROGRESS
    skip_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "causes": list(self.cause_ids),
            "cause_names": list(self.cause_names),
            "label_error": self.label_error,
            "suggested_label": self.suggested_label,
            "note": self.note,
            "status": self.status.value,
            "skip_reason": self.skip_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnnotationState:
        return cls(
            cause_ids=tuple(data.get("causes", ())),
            cause_names=tuple(data.get("cause_names", ())),
            label_error=bool(data.get("label_error", False)),
            suggested_label=data.get("suggested_label"),
            note=data.get("note", ""),
            status=AnnotationStatus(data.get("status", AnnotationStatus.IN_PROGRESS.value)),
            skip_reason=data.get("skip_reason", ""),
        )

    def counted(self) -> verdicts.ReviewCount:
        """What this state adds to its annotator's sums, as a review."""
        return verdicts.ReviewCount(
            finished=self.status is AnnotationStatus.DONE,
            label_error=self.label_error,
            causes=frozenset(self.cause_ids),
        )

    def same_decision(self, other: AnnotationState) -> bool:
        """Equal in everything but the remembered names (which only describe the ids)."""
        return replace(self, cause_names=()) == replace(other, cause_names=())


@dataclass(frozen=True)
class Draft:
    """The state a save asks for (the whole state: saves replace, they do not patch)."""

    cause_ids: frozenset[int] = field(default_factory=frozenset)
    label_error: bool = False
    suggested_label: str | None = None
    note: str = ""
    status: AnnotationStatus = AnnotationStatus.IN_PROGRESS
    skip_reason: str = ""

    @classmethod
    def of(cls, state: AnnotationState) -> Draft:
        return cls(
            cause_ids=frozenset(state.cause_ids),
            label_error=state.label_error,
            suggested_label=state.suggested_label,
            note=state.note,
            status=state.status,
            skip_reason=state.skip_reason,
        )


class StaleAnnotation(Conflict):
    """The save was based on an older version; carries what is stored now."""

    def __init__(self, current: AnnotationState, version: int) -> None:
        super().__init__(
            _(
                "This error was changed elsewhere (another tab or device) since you loaded it. "
                "Its current state is shown; make your change again if it is still needed."
            )
        )
        self.current = current
        self.version = version


@dataclass(frozen=True)
class SaveResult:
    annotation: Annotation
    state: AnnotationState
    changed: bool


def find_annotation(
    session: Session, prediction_id: int, user_id: int, kind: AnnotationKind = AnnotationKind.REVIEW
) -> Annotation | None:
    return session.scalar(
        select(Annotation).where(
            Annotation.prediction_id == prediction_id,
            Annotation.annotator_id == user_id,
            Annotation.kind == kind,
        )
    )


def state_of(session: Session, annotation: Annotation | None) -> AnnotationState:
    if annotation is None:
        return AnnotationState()
    rows = session.execute(
        select(Cause.id, Cause.name)
        .join(AnnotationCause, AnnotationCause.cause_id == Cause.id)
        .where(AnnotationCause.annotation_id == annotation.id)
        .order_by(Cause.id)
    ).all()
    return AnnotationState(
        cause_ids=tuple(r.id for r in rows),
        cause_names=tuple(r.name for r in rows),
        label_error=annotation.label_error,
        suggested_label=annotation.suggested_label,
        note=annotation.note,
        status=annotation.status,
        skip_reason=annotation.skip_reason,
    )


def suggested_label_problem(project: Project, label: str, suggested: str) -> str | None:
    """What is wrong with suggesting `suggested` for a sample labelled `label`, if anything."""
    if project.labels and suggested not in project.labels:
        return _("'%(label)s' is not one of the project's labels.", label=suggested)
    if suggested == label:
        return _("The suggested label is the current label.")
    return None


def _checked_state(
    session: Session,
    access: ProjectAccess,
    prediction: Prediction,
    draft: Draft,
    before: AnnotationState,
) -> AnnotationState:
    """The draft as a stored state, or InvalidInput naming what breaks the rules."""
    project = access.project
    causes = (
        list(session.scalars(select(Cause).where(Cause.id.in_(draft.cause_ids)).order_by(Cause.id)))
        if draft.cause_ids
        else []
    )
    if len(causes) != len(draft.cause_ids) or any(c.project_id != project.id for c in causes):
        raise InvalidInput({"causes": _("Some of these causes do not exist in this project.")})
    newly_archived = [
        c.name for c in causes if c.archived_at is not None and c.id not in before.cause_ids
    ]
    if newly_archived:
        raise InvalidInput(
            {
                "causes": _(
                    "Archived causes cannot be chosen: %(names)s.", names=", ".join(newly_archived)
                )
            }
        )
    # One cause at most cannot break a single-choice group (and a round trip fewer for
    # the usual save).
    single_groups = (
        {
            g.id: g.name
            for g in session.scalars(
                select(CauseGroup).where(
                    CauseGroup.project_id == project.id, CauseGroup.kind == GroupKind.SINGLE
                )
            )
        }
        if len(causes) > 1
        else {}
    )
    for group_id, group_name in single_groups.items():
        chosen = [c.name for c in causes if c.group_id == group_id]
        if len(chosen) > 1:
            given = ", ".join(chosen)
            message = _(
                "Pick at most one cause of '%(group)s' (%(given)s were given).",
                group=group_name,
                given=given,
            )
            raise InvalidInput({"causes": message})

    suggested = (draft.suggested_label or "").strip() or None
    if not draft.label_error:
        suggested = None
    elif suggested is not None:
        sample_label = session.scalar(select(Sample.label).where(Sample.id == prediction.sample_id))
        if problem := suggested_label_problem(project, sample_label or "", suggested):
            raise InvalidInput({"suggested_label": problem})
    if len(draft.note) > MAX_NOTE:
        raise InvalidInput(
            {"note": _("Keep the note under %(max)s characters.", max=format_number(MAX_NOTE))}
        )
    return AnnotationState(
        cause_ids=tuple(c.id for c in causes),
        cause_names=tuple(c.name for c in causes),
        label_error=draft.label_error,
        suggested_label=suggested,
        note=draft.note,
        status=draft.status,
        skip_reason=draft.skip_reason.strip() if draft.status is AnnotationStatus.SKIPPED else "",
    )


def _check_may_annotate(
    access: ProjectAccess, prediction: Prediction, kind: AnnotationKind
) -> None:
    access.require_open()
    if access.role is None:
        raise PermissionDenied(
            _("Only members of the project's team can annotate; join the team first.")
        )
    if kind is AnnotationKind.ADJUDICATION and not access.can_lead:
        raise PermissionDenied(_("Only leads can adjudicate."))
    if prediction.project_id != access.project.id:
        raise NotFound(_("No such error in this project."))
    if not prediction.is_error:
        raise InvalidInput(
            {"prediction": _("Only errors are annotated: the model got this sample right.")}
        )


def save(
    session: Session,
    access: ProjectAccess,
    prediction: Prediction,
    draft: Draft,
    *,
    expected_version: int | None,
    kind: AnnotationKind = AnnotationKind.REVIEW,
    action: str = "edit",
    annotator: User | None = None,
) -> SaveResult:
    """Store `draft` as `annotator`'s annotation (default: the acting user's own).

    `expected_version` is the version the change was based on (0 for a new one); None
    (the API's PUT without a version) takes the current one, whatever it is.
    """
    owner = annotator or access.user
    if owner.id != access.user.id and not access.can_lead:
        raise PermissionDenied(_("Only leads can change other people's annotations."))
    _check_may_annotate(access, prediction, kind)
    annotation = find_annotation(session, prediction.id, owner.id, kind)
    before = state_of(session, annotation)
    current_version = annotation.version if annotation is not None else 0
    if expected_version is not None and expected_version != current_version:
        raise StaleAnnotation(before, current_version)

    after = _checked_state(session, access, prediction, draft, before)
    if annotation is not None and after.same_decision(before):
        return SaveResult(annotation, before, changed=False)

    savepoint = session.begin_nested()
    try:
        if annotation is None:
            annotation = Annotation(
                project_id=prediction.project_id,
                prediction_id=prediction.id,
                annotator_id=owner.id,
                kind=kind,
            )
            session.add(annotation)
        _write(session, annotation, before, after)
        session.flush()
    except (IntegrityError, StaleDataError):
        savepoint.rollback()
        fresh = find_annotation(session, prediction.id, owner.id, kind)
        if fresh is not None:
            session.refresh(fresh)
        raise StaleAnnotation(state_of(session, fresh), fresh.version if fresh else 0) from None
    savepoint.commit()

    session.add(
        AnnotationEvent(
            project_id=prediction.project_id,
            annotation_id=annotation.id,
            actor_id=access.user.id,
            action=action,
            version=annotation.version,
            before=before.to_json() if current_version else None,
            after=after.to_json(),
        )
    )
    session.flush()
    verdicts.refresh(session, [prediction.id])
    if kind is AnnotationKind.REVIEW:
        verdicts.count_review(
            session,
            prediction.run_id,
            owner.id,
            before.counted() if current_version else None,
            after.counted(),
        )
    metrics.count_after_commit(session, metrics.ANNOTATIONS_SAVED)
    live.announce(
        session,
        prediction.project_id,
        "annotation",
        prediction=prediction.id,
        run=prediction.run_id,
        annotator=owner.id,
        version=annotation.version,
    )
    return SaveResult(annotation, after, changed=True)


def _write(
    session: Session, annotation: Annotation, before: AnnotationState, state: AnnotationState
) -> None:
    """Write `state` over `before`, what the annotation held (the version check at the
    flush holds it to be so)."""
    annotation.label_error = state.label_error
    annotation.suggested_label = state.suggested_label
    annotation.note = state.note
    annotation.status = state.status
    annotation.skip_reason = state.skip_reason
    annotation.needs_revisit = False
    # Always touched, so the row is UPDATEd and its version moves even when only
    # the causes (another table) changed.
    annotation.updated_at = utcnow()
    session.flush()
    # Only the marks that change: a new annotation, or one whose causes stay, has none to
    # delete, and every statement is a round trip on PostgreSQL.
    gone = set(before.cause_ids) - set(state.cause_ids)
    if gone:
        session.execute(
            delete(AnnotationCause).where(
                AnnotationCause.annotation_id == annotation.id,
                AnnotationCause.cause_id.in_(gone),
            )
        )
    session.add_all(
        AnnotationCause(annotation_id=annotation.id, cause_id=c)
        for c in state.cause_ids
        if c not in before.cause_ids
    )


def history(session: Session, annotation: Annotation) -> list[AnnotationEvent]:
    return list(
        session.scalars(
            select(AnnotationEvent)
            .where(AnnotationEvent.annotation_id == annotation.id)
            .order_by(AnnotationEvent.id)
        )
    )


def restore(
    session: Session,
    access: ProjectAccess,
    annotation: Annotation,
    event_id: int,
    *,
    expected_version: int,
) -> SaveResult:
    """Bring back the state right after an earlier event; the restore is itself an event."""
    event = session.get(AnnotationEvent, event_id)
    if event is None or event.annotation_id != annotation.id:
        raise NotFound(_("No such change in this annotation's history."))
    prediction = session.get(Prediction, annotation.prediction_id)
    owner = session.get(User, annotation.annotator_id)
    assert prediction is not None
    assert owner is not None
    wanted = AnnotationState.from_json(event.after)
    existing = set(
        session.scalars(
            select(Cause.id).where(
                Cause.id.in_(wanted.cause_ids), Cause.project_id == access.project.id
            )
        )
    )
    # A cause merged away since then is gone; its annotations moved to the survivor.
    draft = replace(Draft.of(wanted), cause_ids=frozenset(existing))
    return save(
        session,
        access,
        prediction,
        draft,
        expected_version=expected_version,
        kind=annotation.kind,
        action="restore",
        annotator=owner,
    )


def replace_causes(
    session: Session,
    access: ProjectAccess,
    annotations: Iterable[Annotation],
    mapping: dict[int, int],
    *,
    action: str,
) -> int:
    """Swap cause ids in many annotations (a merge), one event each. Returns how many changed."""
    # Each error is judged once, at the end, however many of its annotations move.
    with verdicts.batch(session):
        return _replace_causes(session, access, annotations, mapping, action=action)


def _replace_causes(
    session: Session,
    access: ProjectAccess,
    annotations: Iterable[Annotation],
    mapping: dict[int, int],
    *,
    action: str,
) -> int:
    changed = 0
    for annotation in annotations:
        prediction = session.get(Prediction, annotation.prediction_id)
        owner = session.get(User, annotation.annotator_id)
        assert prediction is not None
        assert owner is not None
        state = state_of(session, annotation)
        new_ids = frozenset(mapping.get(c, c) for c in state.cause_ids)
        if new_ids == frozenset(state.cause_ids):
            continue
        save(
            session,
            access,
            prediction,
            replace(Draft.of(state), cause_ids=new_ids),
            expected_version=annotation.version,
            kind=annotation.kind,
            action=action,
            annotator=owner,
        )
        changed += 1
    return changed
