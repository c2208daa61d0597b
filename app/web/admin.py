"""Admin pages: users and site settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import AdminUser, SessionDep, SettingsDep
from app.domain.accounts.admin import (
    NewPassword,
    create_user_with_one_time_password,
    get_user,
    list_users,
    reset_password,
    set_active,
    set_admin,
)
from app.domain.accounts.site import SiteSettings, site_settings, update_site_settings
from app.domain.errors import DomainError
from app.errors import status_of
from app.i18n import gettext as _
from app.models import User
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False, prefix="/admin")


def _users_page(
    request: Request,
    session: SessionDep,
    admin: User,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_password: NewPassword | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "rows": list_users(session, admin),
        "errors": errors or {},
        "values": values or {},
        "new_password": new_password,
    }
    return render(request, "users.html", context, status_code=status_code)


@router.get("/users", name="users")
def users_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _users_page(request, session, user)


@router.post("/users", name="user_create")
def user_create(
    request: Request, user: AdminUser, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    try:
        created = create_user_with_one_time_password(
            session,
            user,
            form.get("username", ""),
            display_name=form.get("display_name", ""),
            admin=form.get("admin") == "on",
            valid_for=timedelta(hours=settings.one_time_password_hours),
        )
    except DomainError as exc:
        return _users_page(
            request,
            session,
            user,
            errors=field_errors(exc, "username"),
            values=form,
            status_code=status_of(exc),
        )
    # Shown once on this response; only its hash is stored.
    return _users_page(request, session, user, new_password=created)


@router.post("/users/{user_id}/active", name="user_set_active")
def user_set_active(
    request: Request, user: AdminUser, session: SessionDep, user_id: int, form: FormDep
) -> Response:
    active = form.get("active") == "1"
    target = set_active(session, user, user_id, active=active)
    flash(
        request,
        _("%(username)s can sign in again.", username=target.username)
        if active
        else _(
            "%(username)s is deactivated: signed out, tokens refused. Reactivate any time.",
            username=target.username,
        ),
    )
    return see_other(request, "users")


@router.post("/users/{user_id}/admin", name="user_set_admin")
def user_set_admin(
    request: Request, user: AdminUser, session: SessionDep, user_id: int, form: FormDep
) -> Response:
    admin = form.get("admin") == "1"
    target = set_admin(session, user, user_id, admin=admin)
    flash(
        request,
        _("%(username)s is now an admin.", username=target.username)
        if admin
        else _("%(username)s is no longer an admin.", username=target.username),
    )
    return see_other(request, "users")


@router.get("/users/{user_id}/reset-password", name="user_reset_confirm")
def user_reset_confirm(
    request: Request, user: AdminUser, session: SessionDep, user_id: int
) -> Response:
    target = get_user(session, user, user_id)
    context = {
        "title": _("Reset the password of %(username)s?", username=target.username),
        "explanation": _(
            "Their current password stops working and they are signed out everywhere. "
            "You get a one-time password to pass on; they choose their own at next sign-in."
        ),
        "action": request.app.url_path_for("user_reset", user_id=target.id),
        "button": _("Reset the password"),
        "cancel": request.app.url_path_for("users"),
        "danger": True,
    }
    return render(request, "confirm.html", context)


@router.post("/users/{user_id}/reset-password", name="user_reset")
def user_reset(
    request: Request, user: AdminUser, session: SessionDep, settings: SettingsDep, user_id: int
) -> Response:
    valid_for = timedelta(hours=settings.one_time_password_hours)
    issued = reset_password(session, user, user_id, valid_for=valid_for)
    return _users_page(request, session, user, new_password=issued)


@router.get("/settings", name="site_settings")
def site_settings_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return render(request, "site_settings.html", {"settings": site_settings(session)})


@router.post("/settings", name="site_settings_save")
def site_settings_save(
    request: Request, user: AdminUser, session: SessionDep, form: FormDep
) -> Response:
    wanted = SiteSettings(
        members_may_create_projects=form.get("members_may_create_projects") == "on"
    )
    update_site_settings(session, user, wanted)
    flash(request, _("Site settings saved."))
    return see_other(request, "site_settings")
