"""The causes page: the taxonomy a lead tends while the team reviews.

Every change works as a plain form post; with htmx the page's board is swapped in
place instead (its forms inherit the target), so a lead can reorder by keyboard
without losing their place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import OpenLeadAccess, ProjectAccessDep, SessionDep
from app.domain.errors import DomainError, PermissionDenied
from app.domain.numbers import whole_number
from app.domain.projects import causes
from app.domain.projects.access import ProjectAccess
from app.domain.review.visibility import visibility_of
from app.errors import status_of
from app.i18n import gettext as _
from app.i18n import lazy_gettext, ngettext
from app.models import GroupKind
from app.routing import CheckedRoute
from app.templating import flash, is_htmx, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

GROUP_KINDS = [
    (GroupKind.MULTI.value, lazy_gettext("Any number per error")),
    (GroupKind.SINGLE.value, lazy_gettext("One per error")),
]


def _page(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    *,
    editing: int | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    similar: bool = False,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    project = access.project
    taxonomy = causes.taxonomy(session, project, visibility_of(access))
    context: dict[str, Any] = {
        "access": access,
        "project": project,
        "taxonomy": taxonomy,
        "group_choices": [(str(group.id), group.name) for group, _ in taxonomy.groups],
        "can_edit": access.may_change,
        "can_add": causes.may_add_causes(access),
        "editing": editing,
        "values": values or {},
        "errors": errors or {},
        "similar": similar,
        "notice": notice,
        "group_kinds": GROUP_KINDS,
        "tab": "causes",
    }
    return render(request, "causes.html", context, fragment="board", status_code=status_code)


def _done(request: Request, session: SessionDep, access: ProjectAccess, message: str) -> Response:
    if is_htmx(request):
        return _page(request, session, access, notice=message)
    flash(request, message)
    return see_other(request, "causes", project_id=access.project.id)


def _refused(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    exc: DomainError,
    form: dict[str, str],
    *,
    editing: int | None = None,
    fallback: str = "form",
) -> Response:
    if isinstance(exc, PermissionDenied):
        raise exc
    return _page(
        request,
        session,
        access,
        editing=editing,
        values=form,
        errors=field_errors(exc, fallback),
        similar=isinstance(exc, causes.SimilarCauseExists) and editing is None,
        status_code=status_of(exc),
    )


@router.get("/projects/{project_id}/causes", name="causes")
def causes_page(request: Request, access: ProjectAccessDep, session: SessionDep) -> Response:
    return _page(request, session, access)


@router.post("/projects/{project_id}/causes", name="cause_create")
def cause_create(
    request: Request, access: ProjectAccessDep, session: SessionDep, form: FormDep
) -> Response:
    key = form.get("key", "").strip()
    try:
        cause = causes.create_cause(
            session,
            access,
            form.get("name", ""),
            description=form.get("description", ""),
            group_id=whole_number(form.get("group_id")),
            key=key or causes.AUTO_KEY,
            allow_similar=form.get("allow_similar") == "on",
        )
    except DomainError as exc:
        return _refused(request, session, access, exc, form)
    added = (
        _("Cause “%(name)s” (key %(key)s) added.", name=cause.name, key=cause.key)
        if cause.key
        else _("Cause “%(name)s” added.", name=cause.name)
    )
    return _done(request, session, access, added)


@router.get("/projects/{project_id}/causes/{cause_id}/edit", name="cause_edit")
def cause_edit(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int
) -> Response:
    cause = causes.get_cause(session, access, cause_id)
    values = {
        "name": cause.name,
        "description": cause.description,
        "key": cause.key or "",
        "group_id": str(cause.group_id),
    }
    return _page(request, session, access, editing=cause.id, values=values)


@router.post("/projects/{project_id}/causes/{cause_id}", name="cause_save")
def cause_save(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int, form: FormDep
) -> Response:
    group = form.get("group_id", "")
    try:
        cause = causes.update_cause(
            session,
            access,
            cause_id,
            name=form.get("name", ""),
            description=form.get("description", ""),
            key=form.get("key", ""),
            group_id=whole_number(group) or 0,
            allow_similar=form.get("allow_similar") == "on",
        )
    except DomainError as exc:
        return _refused(request, session, access, exc, form, editing=cause_id)
    return _done(request, session, access, _("Cause “%(name)s” saved.", name=cause.name))


@router.post("/projects/{project_id}/causes/{cause_id}/move", name="cause_move")
def cause_move(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int, form: FormDep
) -> Response:
    step = -1 if form.get("step") == "up" else 1
    cause = causes.move_cause(session, access, cause_id, step)
    moved = (
        _("“%(name)s” moved up.", name=cause.name)
        if step < 0
        else _("“%(name)s” moved down.", name=cause.name)
    )
    return _done(request, session, access, moved)


@router.post("/projects/{project_id}/causes/{cause_id}/archive", name="cause_archive")
def cause_archive(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int
) -> Response:
    cause = causes.archive_cause(session, access, cause_id)
    return _done(
        request,
        session,
        access,
        _(
            "“%(name)s” archived: hidden from review, kept in history. Unarchive it below.",
            name=cause.name,
        ),
    )


@router.post("/projects/{project_id}/causes/{cause_id}/unarchive", name="cause_unarchive")
def cause_unarchive(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int
) -> Response:
    cause = causes.unarchive_cause(session, access, cause_id)
    back = _("“%(name)s” is back in review (without a key).", name=cause.name)
    return _done(request, session, access, back)


@router.get("/projects/{project_id}/causes/{cause_id}/delete", name="cause_delete_confirm")
def cause_delete_confirm(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int
) -> Response:
    cause = causes.get_cause(session, access, cause_id)
    project = access.project
    context = {
        "title": _("Delete the cause “%(name)s”?", name=cause.name),
        "explanation": _(
            "No annotation uses it, so nothing else changes. A cause that was used can only "
            "be archived or merged, so history keeps it."
        ),
        "action": request.app.url_path_for(
            "cause_delete", project_id=project.id, cause_id=cause.id
        ),
        "button": _("Delete the cause"),
        "cancel": request.app.url_path_for("causes", project_id=project.id),
        "danger": True,
    }
    return render(request, "confirm.html", context)


@router.post("/projects/{project_id}/causes/{cause_id}/delete", name="cause_delete")
def cause_delete(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int
) -> Response:
    name = causes.delete_cause(session, access, cause_id)
    flash(request, _("Cause “%(name)s” deleted.", name=name))
    return see_other(request, "causes", project_id=access.project.id)


@router.get("/projects/{project_id}/causes/{cause_id}/merge", name="cause_merge_preview")
def cause_merge_preview(
    request: Request,
    access: OpenLeadAccess,
    session: SessionDep,
    cause_id: int,
    target: int | None = None,
) -> Response:
    source = causes.get_cause(session, access, cause_id)
    preview, refused = None, None
    if target is not None:
        try:
            preview = causes.merge_preview(session, access, source.id, target)
        except DomainError as exc:
            refused = exc
    every = causes.taxonomy(session, access.project, visibility_of(access)).active
    targets = [c for c in every if c.id != source.id]
    context = {
        "access": access,
        "project": access.project,
        "source": source,
        "targets": targets,
        "target": target,
        "preview": preview,
        "error": refused.message if refused else None,
        "tab": "causes",
    }
    status = status_of(refused) if refused else 200
    return render(request, "cause_merge.html", context, status_code=status)


@router.post("/projects/{project_id}/causes/{cause_id}/merge", name="cause_merge")
def cause_merge(
    request: Request, access: OpenLeadAccess, session: SessionDep, cause_id: int, form: FormDep
) -> Response:
    target = form.get("target", "")
    done = causes.merge_causes(session, access, cause_id, whole_number(target) or 0)
    moved = ngettext("%(num)s annotation", "%(num)s annotations", done.annotations)
    flash(
        request,
        _(
            "“%(source)s” merged into “%(target)s”: %(moved)s moved; “%(source)s” is archived.",
            source=done.source.name,
            target=done.target.name,
            moved=moved,
        ),
    )
    return see_other(request, "causes", project_id=access.project.id)


@router.post("/projects/{project_id}/cause-groups", name="group_create")
def group_create(
    request: Request, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    try:
        group = causes.create_group(
            session, access, form.get("group_name", ""), form.get("group_kind", "")
        )
    except DomainError as exc:
        return _refused(request, session, access, exc, form, fallback="group_name")
    return _done(request, session, access, _("Group “%(name)s” created.", name=group.name))
