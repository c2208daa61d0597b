"""The taxonomy of error causes: discovered while reviewing, so creating one must be quick
and must not split one idea into two columns ("Blurry" and "blurry ")."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, replace

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.domain import live
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from app.domain.names import checked_name, clean_name, name_problem
from app.domain.projects.access import ProjectAccess
from app.domain.review.annotations import replace_causes
from app.domain.review.visibility import Visibility
from app.i18n import gettext as _
from app.i18n import lazy_gettext, ngettext
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationKind,
    Cause,
    CauseGroup,
    GroupKind,
    Project,
    ProjectRole,
    SampleKind,
    utcnow,
)

AUTO_KEYS = tuple("123456789")
# `key=AUTO_KEY` gives a new cause the next free digit; `key=None` gives it none.
AUTO_KEY = "auto"
# Letters the review screen uses for its own commands; a cause cannot take them.
RESERVED_KEYS = frozenset("lncsuzgha?")
# Names at least this alike (difflib ratio on their folded form) are offered instead.
SIMILARITY = 0.85
# A typical cause for what the project's samples are: the example where a name is typed
# (a text project has no "Blurry").
CAUSE_EXAMPLES = {
    SampleKind.IMAGE: lazy_gettext("Blurry"),
    SampleKind.TEXT: lazy_gettext("Sarcasm"),
    SampleKind.RECORD: lazy_gettext("Missing value"),
}


def fold(name: str) -> str:
    """The form names are compared in: case, accents, spacing and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", "", letters)


class SimilarCauseExists(Conflict):
    """A cause with a close name exists; the person should pick it or insist."""

    def __init__(self, similar: list[Cause]) -> None:
        names = ", ".join(repr(c.name) for c in similar)
        super().__init__(
            _(
                "A similar cause already exists: %(names)s. Use it, or add the new name anyway.",
                names=names,
            ),
            field="name",
        )
        self.similar = similar


def project_causes(session: Session, project: Project, *, archived: bool = True) -> list[Cause]:
    query = select(Cause).where(Cause.project_id == project.id)
    if not archived:
        query = query.where(Cause.archived_at.is_(None))
    return list(session.scalars(query.order_by(Cause.position, Cause.id)))


def similar_causes(session: Session, project: Project, name: str) -> list[Cause]:
    wanted = fold(name)
    if not wanted:
        return []
    found = []
    for cause in project_causes(session, project):
        folded = fold(cause.name)
        if folded == wanted or difflib.SequenceMatcher(None, folded, wanted).ratio() >= SIMILARITY:
            found.append(cause)
    return found


def next_free_key(session: Session, project: Project) -> str | None:
    used = set(
        session.scalars(
            select(Cause.key).where(Cause.project_id == project.id, Cause.key.is_not(None))
        )
    )
    return next((key for key in AUTO_KEYS if key not in used), None)


def check_key(session: Session, project: Project, key: str, *, cause_id: int | None = None) -> str:
    """A key a cause may take: one digit 1–9 or a letter the review screen does not use."""
    key = key.strip().lower()
    if len(key) != 1 or not (key in AUTO_KEYS or (key.isalpha() and key.isascii())):
        raise InvalidInput({"key": _("A key is one digit 1–9 or one letter.")})
    if key in RESERVED_KEYS:
        raise InvalidInput(
            {"key": _("'%(key)s' is a review-screen command; pick another key.", key=key)}
        )
    holder = session.scalar(select(Cause).where(Cause.project_id == project.id, Cause.key == key))
    if holder is not None and holder.id != cause_id:
        raise Conflict(
            _("Key '%(key)s' is already used by %(name)s.", key=key, name=repr(holder.name)),
            field="key",
        )
    return key


def _group_for(session: Session, project: Project, group_id: int | None) -> CauseGroup:
    query = select(CauseGroup).where(CauseGroup.project_id == project.id)
    if group_id is not None:
        group = session.scalar(query.where(CauseGroup.id == group_id))
        if group is None:
            raise NotFound(_("No such cause group in this project."))
        return group
    group = session.scalar(query.order_by(CauseGroup.position, CauseGroup.id).limit(1))
    if group is None:  # every project is created with one; a lead may have removed it
        raise NotFound(_("The project has no cause group yet; create one first."))
    return group


def cause_example(project: Project) -> str:
    return str(CAUSE_EXAMPLES[project.kind])


def may_add_causes(access: ProjectAccess) -> bool:
    """Leads add causes, and annotators too where the project lets them; none while archived."""
    return (access.can_lead or access.project.annotators_may_add_causes) and (
        not access.project.is_archived
    )


def create_cause(
    session: Session,
    access: ProjectAccess,
    name: str,
    *,
    description: str = "",
    group_id: int | None = None,
    key: str | None = AUTO_KEY,
    allow_similar: bool = False,
) -> Cause:
    project = access.project
    access.require_open()
    if not may_add_causes(access):
        raise PermissionDenied(_("Only leads can add causes in this project."))
    name = checked_name(name, "cause")
    similar = similar_causes(session, project, name)
    exact = [c for c in similar if fold(c.name) == fold(name)]
    if exact:
        raise SimilarCauseExists(exact)  # never two columns for one idea, even when insisted
    if similar and not allow_similar:
        raise SimilarCauseExists(similar)
    group = _group_for(session, project, group_id)
    if key == AUTO_KEY:
        chosen_key = next_free_key(session, project)
    elif key:
        chosen_key = check_key(session, project, key)
    else:
        chosen_key = None
    position = session.scalar(
        select(func.coalesce(func.max(Cause.position), -1)).where(Cause.group_id == group.id)
    )
    cause = Cause(
        project_id=project.id,
        group_id=group.id,
        name=name,
        description=description.strip(),
        key=chosen_key,
        position=(position if position is not None else -1) + 1,
        created_by_id=access.user.id,
    )
    session.add(cause)
    session.flush()
    live.announce(session, project.id, "cause", cause=cause.id, name=cause.name, key=cause.key)
    return cause


def cause_counts(session: Session, project: Project, seen_by: Visibility) -> dict[int, int]:
    """How many annotations (any annotator, any status) mark each cause so far, of those
    `seen_by` may see: under blind review their own, and others' only where shown (a
    count moving as someone works would tell what they mark)."""
    query = (
        select(AnnotationCause.cause_id, func.count())
        .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
        .where(Annotation.project_id == project.id)
        .group_by(AnnotationCause.cause_id)
    )
    if not seen_by.sees_all:
        query = query.where(
            or_(
                Annotation.annotator_id == seen_by.viewer_id,
                and_(
                    Annotation.kind == AnnotationKind.REVIEW,
                    seen_by.sees_others_marks_on(Annotation.prediction_id),
                ),
            )
        )
    return dict(session.execute(query).all())


# --- a lead tending the taxonomy -------------------------------------------------------


def _announce(session: Session, cause: Cause, change: str) -> None:
    # Open review screens refresh their cause list on "cause" events.
    live.announce(
        session,
        cause.project_id,
        "cause",
        cause=cause.id,
        name=cause.name,
        key=cause.key,
        change=change,
    )


def get_cause(session: Session, access: ProjectAccess, cause_id: int) -> Cause:
    cause = session.get(Cause, cause_id)
    if cause is None or cause.project_id != access.project.id:
        raise NotFound(_("No such cause in this project."))
    return cause


def groups_of(session: Session, project: Project) -> list[CauseGroup]:
    return list(
        session.scalars(
            select(CauseGroup)
            .where(CauseGroup.project_id == project.id)
            .order_by(CauseGroup.position, CauseGroup.id)
        )
    )


def _end_of(session: Session, group_id: int) -> int:
    last = session.scalar(select(func.max(Cause.position)).where(Cause.group_id == group_id))
    return (last if last is not None else -1) + 1


def update_cause(
    session: Session,
    access: ProjectAccess,
    cause_id: int,
    *,
    name: str,
    description: str,
    key: str,
    group_id: int,
    allow_similar: bool = False,
) -> Cause:
    """Rename, describe, re-key or regroup a cause; a blank key removes its key."""
    access.require_open_lead()
    project = access.project
    cause = get_cause(session, access, cause_id)
    name = checked_name(name, "cause")
    if fold(name) != fold(cause.name):
        similar = [c for c in similar_causes(session, project, name) if c.id != cause.id]
        exact = [c for c in similar if fold(c.name) == fold(name)]
        if exact or (similar and not allow_similar):
            raise SimilarCauseExists(exact or similar)
    new_key = check_key(session, project, key, cause_id=cause.id) if key.strip() else None
    group = _group_for(session, project, group_id)
    if group.id != cause.group_id:
        cause.position = _end_of(session, group.id)
        cause.group_id = group.id
    cause.name = name
    cause.description = description.strip()
    cause.key = new_key
    session.flush()
    _announce(session, cause, "edited")
    return cause


def move_cause(session: Session, access: ProjectAccess, cause_id: int, step: int) -> Cause:
    """Move a cause one place up (-1) or down (+1) among the active causes of its group."""
    access.require_open_lead()
    cause = get_cause(session, access, cause_id)
    index = _siblings(session, cause).index(cause)
    return place_cause(session, access, cause_id, index + (1 if step > 0 else -1))


def _siblings(session: Session, cause: Cause) -> list[Cause]:
    siblings = list(
        session.scalars(
            select(Cause)
            .where(Cause.group_id == cause.group_id, Cause.archived_at.is_(None))
            .order_by(Cause.position, Cause.id)
        )
    )
    if cause not in siblings:
        raise InvalidInput({"cause": _("Archived causes have no place in the order.")})
    return siblings


def place_cause(session: Session, access: ProjectAccess, cause_id: int, position: int) -> Cause:
    """Put a cause at `position` (0 first) among the active causes of its group; a place
    past either end stops at that end, as a drag to the edge would."""
    access.require_open_lead()
    cause = get_cause(session, access, cause_id)
    siblings = _siblings(session, cause)
    siblings.remove(cause)
    siblings.insert(min(max(position, 0), len(siblings)), cause)
    # Renumbered every time, so equal positions left by older data cannot stick.
    for place, sibling in enumerate(siblings):
        sibling.position = place
    session.flush()
    _announce(session, cause, "moved")
    return cause


def group_named(session: Session, access: ProjectAccess, name: str) -> CauseGroup:
    """The group called `name` (any case), created (any number per error) if there is none."""
    wanted = fold(clean_name(name))
    for group in groups_of(session, access.project):
        if fold(group.name) == wanted:
            return group
    return create_group(session, access, name, GroupKind.MULTI.value)


def create_group(session: Session, access: ProjectAccess, name: str, kind: str) -> CauseGroup:
    access.require_open_lead()
    name = clean_name(name)
    problems: dict[str, str] = {}
    if problem := name_problem(name, "group"):
        problems["group_name"] = problem
    try:
        group_kind = GroupKind(kind)
    except ValueError:
        problems["group_kind"] = _("Pick 'any number' or 'one per error'.")
        group_kind = GroupKind.MULTI
    if problems:
        raise InvalidInput(problems)
    clash = any(fold(g.name) == fold(name) for g in groups_of(session, access.project))
    if clash:
        raise Conflict(
            _("A group called %(name)s already exists.", name=repr(name)), field="group_name"
        )
    last = session.scalar(
        select(func.max(CauseGroup.position)).where(CauseGroup.project_id == access.project.id)
    )
    group = CauseGroup(
        project_id=access.project.id,
        name=name,
        kind=group_kind,
        position=(last if last is not None else -1) + 1,
    )
    session.add(group)
    session.flush()
    live.announce(session, group.project_id, "cause", group=group.id, name=group.name)
    return group


def archive_cause(session: Session, access: ProjectAccess, cause_id: int) -> Cause:
    """Hide a cause from review; its annotations, history and exports keep it.

    Its key is freed so a live cause can take it, and remembered for unarchiving.
    """
    access.require_open_lead()
    cause = get_cause(session, access, cause_id)
    if cause.archived_at is None:
        cause.archived_at = utcnow()
        cause.archived_key, cause.key = cause.key, None
        session.flush()
        _announce(session, cause, "archived")
    return cause


def _key_if_free(session: Session, project_id: int, key: str | None) -> str | None:
    """`key` if no cause of the project holds it now (a live one may have taken it)."""
    if key is None:
        return None
    held = session.scalar(select(Cause.id).where(Cause.project_id == project_id, Cause.key == key))
    return key if held is None else None


def unarchive_cause(session: Session, access: ProjectAccess, cause_id: int) -> Cause:
    access.require_open_lead()
    cause = get_cause(session, access, cause_id)
    if cause.archived_at is not None:
        cause.archived_at = None
        cause.position = _end_of(session, cause.group_id)
        cause.key = _key_if_free(session, cause.project_id, cause.archived_key)
        cause.archived_key = None
        session.flush()
        _announce(session, cause, "unarchived")
    return cause


def times_used(session: Session, cause: Cause) -> int:
    return session.scalar(select(func.count()).where(AnnotationCause.cause_id == cause.id)) or 0


def delete_cause(session: Session, access: ProjectAccess, cause_id: int) -> str:
    """Only a cause no annotation uses can go for good; a used one is archived instead."""
    access.require_open_lead()
    cause = get_cause(session, access, cause_id)
    used = times_used(session, cause)
    if used:
        raise Conflict(
            ngettext(
                "%(name)s is used in %(num)s annotation: archive it, or merge it into another "
                "cause.",
                "%(name)s is used in %(num)s annotations: archive it, or merge it into another "
                "cause.",
                used,
                name=repr(cause.name),
            )
        )
    name = cause.name
    _announce(session, cause, "deleted")
    session.delete(cause)
    session.flush()
    return name


@dataclass(frozen=True)
class MergePreview:
    source: Cause
    target: Cause
    annotations: int  # annotations that will change
    errors: int  # distinct errors those annotations are about


def merge_preview(
    session: Session, access: ProjectAccess, source_id: int, target_id: int
) -> MergePreview:
    access.require_open_lead()
    source = get_cause(session, access, source_id)
    target = get_cause(session, access, target_id)
    if source.id == target.id:
        raise InvalidInput({"target": _("Pick another cause to merge into.")})
    if target.archived_at is not None:
        raise InvalidInput(
            {"target": _("%(name)s is archived; unarchive it first.", name=repr(target.name))}
        )
    annotations, errors = session.execute(
        select(func.count(), func.count(func.distinct(Annotation.prediction_id)))
        .select_from(AnnotationCause)
        .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
        .where(AnnotationCause.cause_id == source.id)
    ).one()
    return MergePreview(source=source, target=target, annotations=annotations, errors=errors)


def merge_causes(
    session: Session, access: ProjectAccess, source_id: int, target_id: int
) -> MergePreview:
    """Move every annotation of `source` to `target` (one event each), then archive `source`.

    All or nothing: if one annotation cannot take the target (two causes of a
    one-per-error group), nothing moves.
    """
    preview = merge_preview(session, access, source_id, target_id)
    annotations = list(
        session.scalars(
            select(Annotation)
            .join(AnnotationCause, AnnotationCause.annotation_id == Annotation.id)
            .where(AnnotationCause.cause_id == preview.source.id)
            .order_by(Annotation.id)
        )
    )
    # Saves need a team role; a site admin off the team acts with a lead's rights here.
    actor = access if access.role is not None else replace(access, role=ProjectRole.LEAD)
    savepoint = session.begin_nested()
    try:
        replace_causes(
            session,
            actor,
            annotations,
            {preview.source.id: preview.target.id},
            action="merge",
        )
    except DomainError:
        savepoint.rollback()
        raise
    savepoint.commit()
    archive_cause(session, access, preview.source.id)
    return preview


@dataclass(frozen=True)
class Taxonomy:
    """The causes page: active causes grouped and ordered, the archived ones, and counts."""

    groups: list[tuple[CauseGroup, list[Cause]]]
    archived: list[Cause]
    counts: dict[int, int]

    @property
    def active(self) -> list[Cause]:
        return [cause for _, causes in self.groups for cause in causes]


def _in_groups(
    groups: list[CauseGroup], causes: list[Cause]
) -> list[tuple[CauseGroup, list[Cause]]]:
    return [(g, [c for c in causes if c.group_id == g.id]) for g in groups]


def cause_groups(session: Session, project: Project) -> list[tuple[CauseGroup, list[Cause]]]:
    """Active causes in their groups, both in their set order: what the review screen and
    the project page show."""
    return _in_groups(groups_of(session, project), project_causes(session, project, archived=False))


def taxonomy(session: Session, project: Project, seen_by: Visibility) -> Taxonomy:
    """Everything the causes page shows: the groups, the archived causes, and how often
    each cause is used (as far as `seen_by` may see)."""
    every = project_causes(session, project)
    live = [c for c in every if c.archived_at is None]
    return Taxonomy(
        groups=_in_groups(groups_of(session, project), live),
        archived=[c for c in every if c.archived_at is not None],
        counts=cause_counts(session, project, seen_by),
    )
