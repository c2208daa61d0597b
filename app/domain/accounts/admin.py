"""What site admins do to user accounts. The site always keeps an active admin."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_user, end_sign_ins, hash_password
from app.domain.errors import Conflict, NotFound, PermissionDenied
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.models import Membership, Project, ProjectRole, SiteRole, User, utcnow

# The default of EYEBALL_ONE_TIME_PASSWORD_HOURS (the admin pages pass the setting).
ONE_TIME_VALID_FOR = timedelta(hours=72)


class AdminsOnly(PermissionDenied):
    # Lazy: said in the reader's language when raised (str() of it is English at import
    # time, for the API's documentation).
    MESSAGE: Any = lazy_gettext("Only site admins can do this.")

    def __init__(self) -> None:
        super().__init__(str(self.MESSAGE))


def require_admin(actor: User, refusal: type[AdminsOnly] = AdminsOnly) -> None:
    """Managing users, the site's settings and deleting a project are for site admins;
    `refusal` may say more about one of those."""
    if not actor.is_admin:
        raise refusal()


def one_time_password() -> str:
    # Twelve characters from a URL-safe alphabet: easy to pass on, never guessed.
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class UserRow:
    user: User
    projects: list[tuple[Project, ProjectRole]]


def list_users(session: Session, actor: User) -> list[UserRow]:
    require_admin(actor)
    users = list(session.scalars(select(User).order_by(User.username)))
    rows = session.execute(
        select(Membership.user_id, Project, Membership.role)
        .join(Project, Project.id == Membership.project_id)
        .where(Membership.removed_at.is_(None))
        .order_by(func.lower(Project.name))
    ).all()
    by_user: dict[int, list[tuple[Project, ProjectRole]]] = {}
    for user_id, project, role in rows:
        by_user.setdefault(user_id, []).append((project, role))
    return [UserRow(user=u, projects=by_user.get(u.id, [])) for u in users]


def get_user(session: Session, actor: User, user_id: int) -> User:
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


@dataclass(frozen=True)
class NewPassword:
    user: User
    password: str  # shown once to the admin, who passes it on


def create_user_with_one_time_password(
    session: Session,
    actor: User,
    username: str,
    *,
    display_name: str = "",
    admin: bool = False,
    valid_for: timedelta = ONE_TIME_VALID_FOR,
) -> NewPassword:
    """A new account whose first sign-in asks for a password of their own; the one-time
    password stops working after `valid_for` if unused."""
    require_admin(actor)
    password = one_time_password()
    user = create_user(
        session,
        username,
        password,
        display_name=display_name,
        admin=admin,
        must_change_password=True,
    )
    user.one_time_password_expires_at = utcnow() + valid_for
    return NewPassword(user=user, password=password)


def create_user_with_password(
    session: Session, actor: User, username: str, password: str, *, admin: bool = False
) -> User:
    """An account whose password the admin chose (a service account for a pipeline, say)."""
    require_admin(actor)
    return create_user(session, username, password, admin=admin)


def reset_password(
    session: Session, actor: User, user_id: int, *, valid_for: timedelta = ONE_TIME_VALID_FOR
) -> NewPassword:
    """A new one-time password, working for `valid_for` if unused; the old one and every
    sign-in of the user stop working."""
    user = get_user(session, actor, user_id)
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.one_time_password_expires_at = utcnow() + valid_for
    end_sign_ins(session, user)
    return NewPassword(user=user, password=password)


def _other_active_admins(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                User.role == SiteRole.ADMIN, User.is_active, User.id != user.id
            )
        )
        or 0
    )


def set_active(session: Session, actor: User, user_id: int, *, active: bool) -> User:
    user = get_user(session, actor, user_id)
    if not active:
        if user.id == actor.id:
            raise Conflict(_("You cannot deactivate yourself; ask another admin."))
        if user.is_admin and not _other_active_admins(session, user):
            raise Conflict(_("The last active admin cannot be deactivated."))
    if user.is_active and not active:
        # Reactivation later must not bring back what was open at deactivation.
        end_sign_ins(session, user)
    user.is_active = active
    session.flush()
    return user


def set_admin(session: Session, actor: User, user_id: int, *, admin: bool) -> User:
    user = get_user(session, actor, user_id)
    if not admin and user.is_admin and not _other_active_admins(session, user):
        raise Conflict(_("The site needs an admin: make someone else admin first."))
    user.role = SiteRole.ADMIN if admin else SiteRole.MEMBER
    session.flush()
    return user
