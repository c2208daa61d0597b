"""Changing a project's team. A project always keeps at least one lead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.domain import live, verdicts
from app.domain.accounts.users import get_user_by_username
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.projects.access import ProjectAccess
from app.i18n import gettext as _
from app.models import Membership, Project, ProjectRole, User, utcnow


def parse_role(value: str) -> ProjectRole:
    try:
        return ProjectRole(value)
    except ValueError:
        raise InvalidInput({"role": _("Pick lead or annotator.")}) from None


def add_member_by_username(
    session: Session, access: ProjectAccess, username: str, role: ProjectRole
) -> Membership:
    access.require_open_lead()
    if not username.strip():
        raise InvalidInput({"username": _("Type the username of the person to add.")})
    user = get_user_by_username(session, username)
    if user is None:
        raise InvalidInput(
            {
                "username": _(
                    "No user is called %(name)s; an admin can create them.",
                    name=repr(username.strip()),
                )
            }
        )
    if not user.is_active:
        raise InvalidInput(
            {"username": _("%(name)s is deactivated; an admin can restore.", name=user.username)}
        )
    existing = session.get(Membership, (access.project.id, user.id))
    if existing is not None and existing.is_active:
        raise Conflict(_("%(name)s is already on the team.", name=user.username), field="username")
    return add_member(session, access.project, user, role)


def _known_user(session: Session, username: str) -> User:
    user = get_user_by_username(session, username)
    if user is None:
        raise NotFound(
            _("No user is called %(name)s; an admin can create them.", name=repr(username.strip()))
        )
    return user


def set_member_role(
    session: Session, access: ProjectAccess, username: str, role: ProjectRole
) -> tuple[Membership, bool]:
    """Put someone on the team with `role`, or give a member that role: the same call
    either way, so a notebook can state the team it wants. True when newly added."""
    access.require_open_lead()
    user = _known_user(session, username)
    existing = session.get(Membership, (access.project.id, user.id))
    if existing is not None and existing.is_active:
        return change_role(session, access, user.id, role), False
    if not user.is_active:
        raise InvalidInput(
            {"username": _("%(name)s is deactivated; an admin can restore.", name=user.username)}
        )
    return add_member(session, access.project, user, role), True


def remove_member_by_username(session: Session, access: ProjectAccess, username: str) -> User:
    access.require_open_lead()
    return remove_member(session, access, _known_user(session, username).id)


def _active_membership(session: Session, access: ProjectAccess, user_id: int) -> Membership:
    membership = session.get(Membership, (access.project.id, user_id))
    if membership is None or not membership.is_active:
        raise NotFound(_("That person is not on this project's team."))
    return membership


def _other_leads(session: Session, access: ProjectAccess, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Membership.project_id == access.project.id,
                Membership.role == ProjectRole.LEAD,
                Membership.removed_at.is_(None),
                Membership.user_id != user_id,
            )
        )
        or 0
    )


def change_role(
    session: Session, access: ProjectAccess, user_id: int, role: ProjectRole
) -> Membership:
    access.require_open_lead()
    membership = _active_membership(session, access, user_id)
    if (
        membership.role is ProjectRole.LEAD
        and role is not ProjectRole.LEAD
        and not _other_leads(session, access, user_id)
    ):
        raise Conflict(_("The project's only lead cannot step down; make someone else lead first."))
    if membership.role is not role:
        membership.role = role
        session.flush()
        verdicts.refresh_annotator(session, access.project.id, user_id)
    return membership


def remove_member(session: Session, access: ProjectAccess, user_id: int) -> User:
    """Take someone off the team; the row stays so their annotations stay attributed."""
    access.require_open_lead()
    membership = _active_membership(session, access, user_id)
    if membership.role is ProjectRole.LEAD and not _other_leads(session, access, user_id):
        raise Conflict(_("The project's only lead cannot leave; make someone else lead first."))
    membership.removed_at = utcnow()
    # Their open live-update stream of this project closes on this (app/web/live.py).
    live.announce(session, access.project.id, live.ACCESS, user=user_id)
    session.flush()
    user = session.get(User, user_id)
    assert user is not None  # the membership's foreign key guarantees it
    return user


def member(session: Session, access: ProjectAccess, user_id: int) -> tuple[User, Membership]:
    membership = _active_membership(session, access, user_id)
    user = session.get(User, user_id)
    assert user is not None
    return user, membership


def add_member(session: Session, project: Project, user: User, role: ProjectRole) -> Membership:
    """Add a user to the team, or bring back a removed member with a new role."""
    membership = session.get(Membership, (project.id, user.id))
    if membership is None:
        membership = Membership(project_id=project.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        changed = membership.role is not role
        membership.role = role
        membership.removed_at = None
        if changed:
            session.flush()
            verdicts.refresh_annotator(session, project.id, user.id)
    session.flush()
    return membership


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
