"""The team page: who works on the project, with which role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import OpenLeadAccess, ProjectAccessDep, SessionDep
from app.domain.errors import Conflict, DomainError
from app.domain.projects.access import ProjectAccess
from app.domain.projects.team import (
    add_member_by_username,
    change_role,
    member,
    parse_role,
    remove_member,
    team_of,
)
from app.errors import status_of
from app.i18n import gettext as _
from app.models import ProjectRole
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


def role_name(role: str) -> str:
    """A project role as the page says it (the stored value stays English)."""
    names = {ProjectRole.ANNOTATOR.value: _("annotator"), ProjectRole.LEAD.value: _("lead")}
    return names.get(role, role)


def _page(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "team": team_of(session, access.project),
        "roles": [r.value for r in ProjectRole],
        "values": values or {"role": ProjectRole.ANNOTATOR.value},
        "errors": errors or {},
        "tab": "team",
    }
    return render(request, "team.html", context, status_code=status_code)


@router.get("/projects/{project_id}/team", name="team")
def team_page(request: Request, access: ProjectAccessDep, session: SessionDep) -> Response:
    return _page(request, session, access)


@router.post("/projects/{project_id}/team", name="team_add")
def team_add(
    request: Request, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    try:
        membership = add_member_by_username(
            session, access, form.get("username", ""), parse_role(form.get("role", ""))
        )
    except DomainError as exc:
        return _page(
            request,
            session,
            access,
            values=form,
            errors=field_errors(exc, "username"),
            status_code=status_of(exc),
        )
    user, _role = member(session, access, membership.user_id)
    flash(
        request,
        _(
            "%(name)s joined the team as %(role)s.",
            name=user.shown_name,
            role=role_name(membership.role.value),
        ),
    )
    return see_other(request, "team", project_id=access.project.id)


@router.post("/projects/{project_id}/team/{user_id}/role", name="team_role")
def team_role(
    request: Request, access: OpenLeadAccess, session: SessionDep, user_id: int, form: FormDep
) -> Response:
    try:
        change_role(session, access, user_id, parse_role(form.get("role", "")))
    except Conflict as exc:
        return _page(
            request, session, access, errors={"team": exc.message}, status_code=status_of(exc)
        )
    flash(request, _("Role changed."))
    return see_other(request, "team", project_id=access.project.id)


@router.get("/projects/{project_id}/team/{user_id}/remove", name="team_remove_confirm")
def team_remove_confirm(
    request: Request, access: OpenLeadAccess, session: SessionDep, user_id: int
) -> Response:
    user, _role = member(session, access, user_id)
    project = access.project
    context = {
        "title": _(
            "Remove %(name)s from “%(project)s”?", name=user.shown_name, project=project.name
        ),
        "explanation": _(
            "They can no longer open the project. Their annotations stay, attributed to "
            "them. Adding them again later restores their access."
        ),
        "action": request.app.url_path_for("team_remove", project_id=project.id, user_id=user.id),
        "button": _("Remove from the team"),
        "cancel": request.app.url_path_for("team", project_id=project.id),
        "danger": True,
    }
    return render(request, "confirm.html", context)


@router.post("/projects/{project_id}/team/{user_id}/remove", name="team_remove")
def team_remove(
    request: Request, access: OpenLeadAccess, session: SessionDep, user_id: int
) -> Response:
    try:
        user = remove_member(session, access, user_id)
    except Conflict as exc:
        return _page(
            request, session, access, errors={"team": exc.message}, status_code=status_of(exc)
        )
    flash(
        request,
        _("%(name)s was removed from the team; their annotations stay.", name=user.shown_name),
    )
    if user.id == access.user.id and not access.user.is_admin:
        return see_other(request, "projects")
    return see_other(request, "team", project_id=access.project.id)
