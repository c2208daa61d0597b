"""Projects, their teams and who may see what."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import signed_in_user
from app.domain.errors import NotFound, PermissionDenied
from app.domain.numbers import whole_number
from app.i18n import gettext as _
from app.models import (
    Membership,
    Project,
    ProjectRole,
    Run,
    User,
)


class LeadsOnly(PermissionDenied):
    MESSAGE = "Only the project's leads can do this."  # in English, for the API's docs

    def __init__(self) -> None:
        super().__init__(_("Only the project's leads can do this."))


class ProjectArchived(PermissionDenied):
    """Every change to an archived project is refused with these same words, whoever asks
    and however (page, API, command line, import)."""

    MESSAGE = "The project is archived: it is read-only until a lead restores it."

    def __init__(self) -> None:
        super().__init__(_("The project is archived: it is read-only until a lead restores it."))


def require_open(project: Project) -> None:
    """For callers that hold a project without a user (an import running in the background)."""
    if project.is_archived:
        raise ProjectArchived()


@dataclass(frozen=True)
class ProjectAccess:
    """A project as one user reaches it: their role decides what they may change."""

    project: Project
    user: User
    role: ProjectRole | None  # None: a site admin who is not on the team

    @property
    def can_lead(self) -> bool:
        return self.user.is_admin or self.role is ProjectRole.LEAD

    @property
    def may_change(self) -> bool:
        """What `require_open_lead` allows, for pages that offer the change or not."""
        return self.can_lead and not self.project.is_archived

    @property
    def may_annotate(self) -> bool:
        # A visiting admin (no role) reads, and an archived project takes no annotation.
        return self.role is not None and not self.project.is_archived

    def require_lead(self) -> None:
        if not self.can_lead:
            raise LeadsOnly()

    def require_open(self) -> None:
        require_open(self.project)

    def require_open_lead(self) -> None:
        """Changes need a lead, and an archived project is read-only until restored."""
        self.require_lead()
        self.require_open()


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


def example_project(session: Session, user: User) -> Project | None:
    """The first project (by name) the user may open that has a run: the one a snippet
    shown to them can name, so that it runs as shown (`runs/latest` needs a run)."""
    projects = [project for project, _ in visible_projects(session, user)]
    with_runs = set(
        session.scalars(
            select(Run.project_id).where(Run.project_id.in_([p.id for p in projects])).distinct()
        )
    )
    return next((p for p in projects if p.id in with_runs), None)


def get_access(session: Session, user: User, project_id: int) -> ProjectAccess:
    """The project if this user may see it; NotFound otherwise, so ids do not leak."""
    # The project and the user's membership in one query: every request about a project
    # and every live event asks this, and on PostgreSQL each query is a round trip.
    found = session.execute(
        select(Project, Membership)
        .outerjoin(
            Membership, (Membership.project_id == Project.id) & (Membership.user_id == user.id)
        )
        .where(Project.id == project_id)
    ).first()
    if found is None:
        raise NotFound(_("No such project."))
    project, membership = found
    role = membership.role if membership is not None and membership.is_active else None
    if role is None and not user.is_admin:
        raise NotFound(_("No such project."))
    return ProjectAccess(project=project, user=user, role=role)


def still_watching(
    session: Session, user_id: object, epoch: object, project_id: int
) -> ProjectAccess | None:
    """The access of a live-update stream opened by this sign-in, asked again since the
    stream outlives the request that checked it (signed out, deactivated, removed: None;
    a role or a project setting changed: the access as it is now)."""
    user = signed_in_user(session, user_id, epoch)
    if user is None:
        return None
    try:
        return get_access(session, user, project_id)
    except NotFound:
        return None


def find_project(session: Session, key: str) -> Project:
    """A project by id or by name (any case), for the command line."""
    project = session.get(Project, number) if (number := whole_number(key)) is not None else None
    if project is None:
        project = session.scalar(select(Project).where(func.lower(Project.name) == key.lower()))
    if project is None:
        raise NotFound(_("No project with the id or name %(key)s.", key=repr(key)))
    return project
