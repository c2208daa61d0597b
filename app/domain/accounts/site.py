"""Site-wide settings an admin decides, stored as key/value rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accounts.admin import require_admin
from app.domain.errors import PermissionDenied
from app.i18n import lazy_gettext
from app.models import Membership, ProjectRole, SiteSetting, User

MEMBERS_MAY_CREATE_PROJECTS = "members_may_create_projects"


@dataclass(frozen=True)
class SiteSettings:
    # Off by default: a site starts with a few leads, not a project per curious member.
    members_may_create_projects: bool = False


def site_settings(session: Session) -> SiteSettings:
    stored = session.get(SiteSetting, MEMBERS_MAY_CREATE_PROJECTS)
    return SiteSettings(members_may_create_projects=bool(stored.value) if stored else False)


def update_site_settings(session: Session, actor: User, settings: SiteSettings) -> SiteSettings:
    require_admin(actor)
    row = session.get(SiteSetting, MEMBERS_MAY_CREATE_PROJECTS)
    if row is None:
        row = SiteSetting(key=MEMBERS_MAY_CREATE_PROJECTS, value=False)
        session.add(row)
    row.value = settings.members_may_create_projects
    session.flush()
    return settings


def may_create_projects(session: Session, user: User) -> bool:
    """Admins and leads always may; other members only when the admins allow it."""
    if user.is_admin:
        return True
    leads_somewhere = session.scalar(
        select(Membership.project_id)
        .where(
            Membership.user_id == user.id,
            Membership.role == ProjectRole.LEAD,
            Membership.removed_at.is_(None),
        )
        .limit(1)
    )
    if leads_somewhere is not None:
        return True
    return site_settings(session).members_may_create_projects


class MayNotCreateProjects(PermissionDenied):
    # Lazy, as AdminsOnly's (app/domain/accounts/admin.py).
    MESSAGE: Any = lazy_gettext(
        "Only admins and project leads can create projects on this site; ask an admin."
    )

    def __init__(self) -> None:
        super().__init__(str(self.MESSAGE))


def require_may_create_projects(session: Session, user: User) -> None:
    if not may_create_projects(session, user):
        raise MayNotCreateProjects()
