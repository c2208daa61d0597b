"""Projects, their teams and who may see what."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models import (
    Annotation,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    CauseGroup,
    GroupKind,
    Membership,
    Prediction,
    Project,
    ProjectRole,
    Run,
    SampleKind,
    User,
)

DEFAULT_GROUP_NAME = "Causes"
LATEST = "latest"


@dataclass(frozen=True)
class ProjectAccess:
    """A project as one user reaches it: their role decides what they may change."""

    project: Project
    user: User
    role: ProjectRole | None  # None: a site admin who is not on the team

    @property
    def can_lead(self) -> bool:
        return self.user.is_admin or self.role is ProjectRole.LEAD

    def require_lead(self) -> None:
        if not self.can_lead:
            raise PermissionDenied("Only the project's leads can do this.")


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
    queue_seed: int | None = None,
) -> Project:
    """A new project with its creator as lead and an empty default cause group."""
    name = name.strip()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Give the project a name."
    elif len(name) > 120:
        problems["name"] = "Keep the name under 120 characters."
    if overlap < 1:
        problems["overlap"] = "At least one annotator must review each error."
    if problems:
        raise InvalidInput(problems)
    if session.scalar(select(Project.id).where(func.lower(Project.name) == name.lower())):
        raise Conflict(f"A project named {name!r} already exists.")
    project = Project(
        name=name,
        description=description.strip(),
        kind=kind,
        labels=clean_labels(labels or []),
        overlap=overlap,
        annotators_may_add_causes=annotators_may_add_causes,
        queue_seed=queue_seed if queue_seed is not None else random.SystemRandom().randrange(2**31),
    )
    session.add(project)
    session.flush()
    session.add(Membership(project_id=project.id, user_id=creator.id, role=ProjectRole.LEAD))
    session.add(
        CauseGroup(project_id=project.id, name=DEFAULT_GROUP_NAME, kind=GroupKind.MULTI, position=0)
    )
    session.flush()
    return project


def add_member(session: Session, project: Project, user: User, role: ProjectRole) -> Membership:
    """Add a user to the team, or bring back a removed member with a new role."""
    membership = session.get(Membership, (project.id, user.id))
    if membership is None:
        membership = Membership(project_id=project.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        membership.role = role
        membership.removed_at = None
    session.flush()
    return membership


def visible_projects(
    session: Session, user: User, *, include_archived: bool = False
) -> list[tuple[Project, ProjectRole | None]]:
    """The projects a user may open with their role in each: their own, or all for admins."""
    role = Membership.role
    query = select(Project, role).outerjoin(
        Membership,
        (Membership.project_id == Project.id)
        & (Membership.user_id == user.id)
        & Membership.removed_at.is_(None),
    )
    if not user.is_admin:
        query = query.where(Membership.user_id.is_not(None))
    if not include_archived:
        query = query.where(Project.archived_at.is_(None))
    rows = session.execute(query.order_by(func.lower(Project.name))).all()
    return [(project, member_role) for project, member_role in rows]


def get_access(session: Session, user: User, project_id: int) -> ProjectAccess:
    """The project if this user may see it; NotFound otherwise, so ids do not leak."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("No such project.")
    membership = session.get(Membership, (project_id, user.id))
    role = membership.role if membership is not None and membership.is_active else None
    if role is None and not user.is_admin:
        raise NotFound("No such project.")
    return ProjectAccess(project=project, user=user, role=role)


def runs_of(session: Session, project: Project) -> list[Run]:
    return list(
        session.scalars(
            select(Run).where(Run.project_id == project.id).order_by(Run.created_at, Run.id)
        )
    )


def resolve_run(session: Session, project: Project, name: str) -> Run:
    """A run by name; `latest` is the newest one."""
    query = select(Run).where(Run.project_id == project.id)
    if name == LATEST:
        run = session.scalar(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(1))
    else:
        run = session.scalar(query.where(Run.name == name))
    if run is None:
        raise NotFound(f"The project has no run named {name!r}.")
    return run


def home_run(session: Session, project: Project) -> Run | None:
    """The run the project page opens on: the one a lead chose, else the newest."""
    chosen = session.scalar(select(Run).where(Run.project_id == project.id, Run.is_default))
    if chosen is not None:
        return chosen
    try:
        return resolve_run(session, project, LATEST)
    except NotFound:
        return None


@dataclass(frozen=True)
class RunProgress:
    run: Run
    errors: int  # misclassified samples stored for this run
    in_review: int  # errors in the random sample under review
    done: int  # errors in review with at least one finished annotation

    @property
    def error_rate(self) -> float | None:
        """Errors over evaluated samples; None when the evaluated count is unknown."""
        if not self.run.evaluated:
            return None
        return self.errors / self.run.evaluated


def run_progress(session: Session, run: Run) -> RunProgress:
    errors, in_review = session.execute(
        select(
            func.count(Prediction.id),
            func.count(Prediction.id).filter(Prediction.in_review),
        ).where(Prediction.run_id == run.id, Prediction.is_error)
    ).one()
    done = session.scalar(
        select(func.count(func.distinct(Annotation.prediction_id)))
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .where(
            Prediction.run_id == run.id,
            Prediction.in_review,
            Annotation.kind == AnnotationKind.REVIEW,
            Annotation.status == AnnotationStatus.DONE,
        )
    )
    return RunProgress(run=run, errors=errors, in_review=in_review, done=done or 0)


@dataclass(frozen=True)
class TeamMember:
    user: User
    role: ProjectRole


def team_of(session: Session, project: Project) -> list[TeamMember]:
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id, Membership.removed_at.is_(None))
        # Leads first; spelled out because enums sort differently on SQLite and PostgreSQL.
        .order_by(case((Membership.role == ProjectRole.LEAD, 0), else_=1), User.username)
    ).all()
    return [TeamMember(user=user, role=role) for user, role in rows]


def causes_of(session: Session, project: Project) -> list[tuple[CauseGroup, list[Cause]]]:
    """Active causes in their groups, both in their set order."""
    groups = list(
        session.scalars(
            select(CauseGroup)
            .where(CauseGroup.project_id == project.id)
            .order_by(CauseGroup.position, CauseGroup.id)
        )
    )
    causes = list(
        session.scalars(
            select(Cause)
            .where(Cause.project_id == project.id, Cause.archived_at.is_(None))
            .order_by(Cause.position, Cause.id)
        )
    )
    return [(group, [c for c in causes if c.group_id == group.id]) for group in groups]


def find_project(session: Session, key: str) -> Project:
    """A project by id or by name (any case), for the command line."""
    project = session.get(Project, int(key)) if key.isdigit() else None
    if project is None:
        project = session.scalar(select(Project).where(func.lower(Project.name) == key.lower()))
    if project is None:
        raise NotFound(f"No project with the id or name {key!r}.")
    return project
