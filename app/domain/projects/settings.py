"""Starting a project, changing its settings, archiving it and, rarely, deleting it."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.accounts.admin import AdminsOnly, require_admin
from app.domain.accounts.site import require_may_create_projects
from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.domain.names import clean_name, name_problem
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationCause,
    CauseGroup,
    GroupKind,
    Membership,
    Project,
    ProjectRole,
    ReviewOrder,
    Sample,
    SampleKind,
    User,
    utcnow,
)

MAX_OVERLAP = 20


def parse_labels(text: str) -> list[str]:
    """One label per line; a single pasted line may instead be separated by commas."""
    return clean_labels(text.splitlines() if "\n" in text.strip() else text.split(","))


@dataclass(frozen=True)
class ProjectFields:
    """A project's settings as a person edits them."""

    name: str
    kind: SampleKind
    description: str = ""
    labels: list[str] = field(default_factory=list)
    overlap: int = 1
    annotators_may_add_causes: bool = False
    review_order: ReviewOrder = ReviewOrder.RANDOM
    # Blind review (`review.visibility`): on unless a lead turns it off; `reveal_marks`:
    # once finished, an annotator sees each person's marks too, not only the consensus.
    blind_review: bool = True
    reveal_marks: bool = False

    @classmethod
    def checked(
        cls,
        *,
        name: str,
        kind: str,
        description: str = "",
        labels: list[str] | None = None,
        overlap: int = 1,
        annotators_may_add_causes: bool = False,
        review_order: str = ReviewOrder.RANDOM.value,
        blind_review: bool = True,
        reveal_marks: bool = False,
        problems: dict[str, str] | None = None,
    ) -> ProjectFields:
        """Every problem at once, keyed by field, so a form (or an API caller) sees them all;
        `problems` holds those already found in reading the input."""
        problems = dict(problems or {})
        name = clean_name(name)
        if problem := name_problem(name, "project"):
            problems["name"] = problem
        try:
            sample_kind = SampleKind(kind)
        except ValueError:
            problems["kind"] = _("Pick what the samples are: images, texts or records.")
            sample_kind = SampleKind.IMAGE
        if "overlap" not in problems and not 1 <= overlap <= MAX_OVERLAP:
            problems["overlap"] = _("Between 1 and %(most)s people per error.", most=MAX_OVERLAP)
        try:
            order = ReviewOrder(review_order)
        except ValueError:
            problems["review_order"] = _("Pick an order: random, or suspected label errors first.")
            order = ReviewOrder.RANDOM
        if problems:
            raise InvalidInput(problems)
        return cls(
            name=name,
            kind=sample_kind,
            description=description.strip(),
            labels=clean_labels(labels or []),
            overlap=overlap,
            annotators_may_add_causes=annotators_may_add_causes,
            review_order=order,
            blind_review=blind_review,
            reveal_marks=reveal_marks,
        )

    @classmethod
    def of(cls, project: Project) -> ProjectFields:
        """The project's settings as they are, to change some of them."""
        return cls(
            name=project.name,
            kind=project.kind,
            description=project.description,
            labels=list(project.labels),
            overlap=project.overlap,
            annotators_may_add_causes=project.annotators_may_add_causes,
            review_order=ReviewOrder(project.review_order),
            blind_review=project.blind_review,
            reveal_marks=project.reveal_marks,
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> ProjectFields:
        problems: dict[str, str] = {}
        overlap_or_none = whole_number(form.get("overlap", "1").strip() or "1")
        if overlap_or_none is None:
            problems["overlap"] = _("A whole number: how many people review each error.")
        overlap = overlap_or_none or 1
        return cls.checked(
            name=form.get("name", ""),
            kind=form.get("kind", ""),
            description=form.get("description", ""),
            labels=parse_labels(form.get("labels", "")),
            overlap=overlap,
            annotators_may_add_causes=form.get("annotators_may_add_causes") in {"on", "true", "1"},
            review_order=form.get("review_order", ReviewOrder.RANDOM.value),
            blind_review=form.get("blind_review") in {"on", "true", "1"},
            reveal_marks=form.get("reveal_marks") in {"on", "true", "1"},
            problems=problems,
        )


def _name_taken(session: Session, name: str, *, other_than: int | None = None) -> bool:
    query = select(Project.id).where(func.lower(Project.name) == name.lower())
    if other_than is not None:
        query = query.where(Project.id != other_than)
    return session.scalar(query) is not None


def start_project(session: Session, creator: User, fields: ProjectFields) -> Project:
    """A project created from the browser: its creator becomes its lead."""
    require_may_create_projects(session, creator)
    return create_project(
        session,
        creator,
        name=fields.name,
        kind=fields.kind,
        description=fields.description,
        labels=fields.labels,
        overlap=fields.overlap,
        annotators_may_add_causes=fields.annotators_may_add_causes,
        review_order=fields.review_order,
        blind_review=fields.blind_review,
        reveal_marks=fields.reveal_marks,
    )


def update_project(session: Session, access: ProjectAccess, fields: ProjectFields) -> Project:
    access.require_open_lead()
    project = access.project
    if _name_taken(session, fields.name, other_than=project.id):
        raise Conflict(
            _("A project named %(name)s already exists.", name=repr(fields.name)), field="name"
        )
    has_samples = (
        session.scalar(select(Sample.id).where(Sample.project_id == project.id).limit(1))
        is not None
    )
    if fields.kind is not project.kind and has_samples:
        raise InvalidInput(
            {"kind": _("Samples were already imported; their kind cannot change any more.")}
        )
    if fields.labels:
        # A vocabulary that drops a label the samples use would make them invalid.
        used = set(
            session.scalars(select(Sample.label).where(Sample.project_id == project.id).distinct())
        )
        missing = sorted(used - set(fields.labels))
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise InvalidInput(
                {"labels": _("Imported samples use labels not listed: %(labels)s.", labels=shown)}
            )
    project.name = fields.name
    project.kind = fields.kind
    project.description = fields.description
    project.labels = fields.labels
    overlap_changed = project.overlap != fields.overlap
    project.overlap = fields.overlap
    project.annotators_may_add_causes = fields.annotators_may_add_causes
    project.review_order = fields.review_order.value
    project.blind_review = fields.blind_review
    project.reveal_marks = fields.reveal_marks
    session.flush()
    if overlap_changed:
        # "Done" means as many finished reviews as the overlap: every verdict may move.
        verdicts.refresh_project(session, project.id)
    return project


def archive_project(session: Session, access: ProjectAccess) -> Project:
    access.require_lead()
    if access.project.archived_at is None:
        access.project.archived_at = utcnow()
        session.flush()
    return access.project


def restore_project(session: Session, access: ProjectAccess) -> Project:
    access.require_lead()
    access.project.archived_at = None
    session.flush()
    return access.project


class AdminsDelete(AdminsOnly):
    MESSAGE = "Only admins can delete a project; leads can archive it."  # English: API docs

    def __init__(self) -> None:
        PermissionDenied.__init__(
            self, _("Only admins can delete a project; leads can archive it.")
        )


def require_may_delete(access: ProjectAccess) -> None:
    require_admin(access.user, AdminsDelete)


def delete_project(session: Session, access: ProjectAccess, typed_name: str) -> str:
    """Delete the project and everything in it; the person must type its name."""
    require_may_delete(access)
    project = access.project
    if typed_name.strip() != project.name:
        raise InvalidInput({"confirm_name": _("Type the project's name exactly to delete it.")})
    name = project.name
    # Causes are protected from deletion while annotations use them (RESTRICT), and
    # a cascade does not promise to remove the annotations first: clear the links.
    annotation_ids = select(Annotation.id).where(Annotation.project_id == project.id)
    session.execute(
        delete(AnnotationCause).where(AnnotationCause.annotation_id.in_(annotation_ids))
    )
    session.execute(delete(Project).where(Project.id == project.id))
    session.expunge(project)
    return name


def clean_labels(labels: list[str]) -> list[str]:
    """Trimmed, blanks dropped, each once, in the order given."""
    seen: dict[str, None] = {}
    for label in labels:
        cleaned = label.strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


def create_project(
    session: Session,
    creator: User,
    *,
    name: str,
    kind: SampleKind,
    description: str = "",
    labels: list[str] | None = None,
    overlap: int = 1,
    annotators_may_add_causes: bool = False,
    review_order: ReviewOrder = ReviewOrder.RANDOM,
    blind_review: bool = True,
    reveal_marks: bool = False,
    queue_seed: int | None = None,
) -> Project:
    """A new project with its creator as lead and an empty default cause group."""
    name = clean_name(name)
    problems: dict[str, str] = {}
    if problem := name_problem(name, "project"):
        problems["name"] = problem
    if not 1 <= overlap <= MAX_OVERLAP:
        problems["overlap"] = _("Between 1 and %(most)s people per error.", most=MAX_OVERLAP)
    if problems:
        raise InvalidInput(problems)
    if _name_taken(session, name):
        raise Conflict(_("A project named %(name)s already exists.", name=repr(name)), field="name")
    project = Project(
        name=name,
        description=description.strip(),
        kind=kind,
        labels=clean_labels(labels or []),
        overlap=overlap,
        annotators_may_add_causes=annotators_may_add_causes,
        review_order=review_order.value,
        blind_review=blind_review,
        reveal_marks=reveal_marks,
        queue_seed=queue_seed if queue_seed is not None else random.SystemRandom().randrange(2**31),
    )
    session.add(project)
    session.flush()
    session.add(Membership(project_id=project.id, user_id=creator.id, role=ProjectRole.LEAD))
    session.add(
        # Named in its creator's language: a name like any group's, which leads rename.
        CauseGroup(project_id=project.id, name=_("Causes"), kind=GroupKind.MULTI, position=0)
    )
    session.flush()
    return project
