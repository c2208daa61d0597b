"""The taxonomy of error causes: discovered while reviewing, so creating one must be quick
and must not split one idea into two columns ("Blurry" and "blurry ")."""

from __future__ import annotations

import difflib
import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import live
from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.domain.projects import ProjectAccess
from app.models import Annotation, AnnotationCause, Cause, CauseGroup, Project

AUTO_KEYS = tuple("123456789")
# `key=AUTO_KEY` gives a new cause the next free digit; `key=None` gives it none.
AUTO_KEY = "auto"
# Letters the review screen uses for its own commands; a cause cannot take them.
RESERVED_KEYS = frozenset("lncsuzgh?")
MAX_NAME = 120
# Names at least this alike (difflib ratio on their folded form) are offered instead.
SIMILARITY = 0.85


def clean_name(name: str) -> str:
    return " ".join(name.split())


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
            f"A similar cause already exists: {names}. Use it, or add the new name anyway."
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
        raise InvalidInput({"key": "A key is one digit 1–9 or one letter."})
    if key in RESERVED_KEYS:
        raise InvalidInput({"key": f"'{key}' is a review-screen command; pick another key."})
    holder = session.scalar(select(Cause).where(Cause.project_id == project.id, Cause.key == key))
    if holder is not None and holder.id != cause_id:
        raise Conflict(f"Key '{key}' is already used by {holder.name!r}.")
    return key


def _group_for(session: Session, project: Project, group_id: int | None) -> CauseGroup:
    query = select(CauseGroup).where(CauseGroup.project_id == project.id)
    if group_id is not None:
        group = session.scalar(query.where(CauseGroup.id == group_id))
        if group is None:
            raise NotFound("No such cause group in this project.")
        return group
    group = session.scalar(query.order_by(CauseGroup.position, CauseGroup.id).limit(1))
    if group is None:  # every project is created with one; a lead may have removed it
        raise NotFound("The project has no cause group yet; create one first.")
    return group


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
    if not access.can_lead and not project.annotators_may_add_causes:
        raise PermissionDenied("Only leads can add causes in this project.")
    name = clean_name(name)
    if not name:
        raise InvalidInput({"name": "Give the cause a name."})
    if len(name) > MAX_NAME:
        raise InvalidInput({"name": f"Keep the name under {MAX_NAME} characters."})
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


def cause_counts(session: Session, project: Project) -> dict[int, int]:
    """How many annotations (any annotator, any status) mark each cause so far."""
    rows = session.execute(
        select(AnnotationCause.cause_id, func.count())
        .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
        .where(Annotation.project_id == project.id)
        .group_by(AnnotationCause.cause_id)
    ).tuples()
    return dict(rows)
