"""New project, project settings, archive, restore and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.dependencies import (
    DeleteAccess,
    LeadAccess,
    OpenLeadAccess,
    ProjectStarter,
    SessionDep,
)
from app.domain.errors import DomainError
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.projects.pipeline import (
    AMBIGUOUS_NAME,
    DESIGN_NAME,
    GROUP_NAME,
    MAX_MODULES,
    PipelineFields,
    PipelineInfo,
    declare_pipeline,
    pipeline_of,
)
from app.domain.projects.settings import (
    ProjectFields,
    archive_project,
    delete_project,
    restore_project,
    start_project,
    update_project,
)
from app.errors import status_of
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.models import Project, SampleKind
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

KIND_CHOICES = [
    (SampleKind.IMAGE.value, lazy_gettext("Images")),
    (SampleKind.TEXT.value, lazy_gettext("Texts")),
    (SampleKind.RECORD.value, lazy_gettext("Records (tabular rows)")),
]


def _values_of(project: Project) -> dict[str, str]:
    return {
        "name": project.name,
        "description": project.description,
        "kind": project.kind.value,
        "labels": "\n".join(project.labels),
        "overlap": str(project.overlap),
        "annotators_may_add_causes": "on" if project.annotators_may_add_causes else "",
        "review_order": project.review_order,
        "blind_review": "on" if project.blind_review else "",
        "reveal_marks": "on" if project.reveal_marks else "",
    }


def _percent_text(value: float | None) -> str:
    return "" if value is None else f"{value * 100:g}"


def _pipeline_values(info: PipelineInfo | None) -> dict[str, str]:
    """The pipeline form's rows: each module, then blank rows to add more."""
    values: dict[str, str] = {}
    modules = info.modules if info else ()
    for row, module in enumerate(modules):
        prefix = f"module-{row}-"
        values[prefix + "id"] = str(module.id)
        values[prefix + "name"] = module.name
        values[prefix + "accuracy"] = _percent_text(module.accuracy)
        values[prefix + "human"] = _percent_text(module.human_accuracy)
    for row in range(len(modules), min(max(len(modules) + 1, 3), MAX_MODULES)):
        values[f"module-{row}-name"] = ""
    return values


def _rows(values: dict[str, str]) -> list[int]:
    rows = (
        whole_number(key.split("-")[1])
        for key in values
        if key.startswith("module-") and key.endswith("-name")
    )
    return sorted(row for row in rows if row is not None)


@router.get("/projects/new", name="project_new")
def project_new(request: Request, user: ProjectStarter) -> Response:
    values = {
        "kind": SampleKind.IMAGE.value,
        "overlap": "1",
        "review_order": "random",
        "blind_review": "on",
    }
    context = {"values": values, "errors": {}, "kinds": KIND_CHOICES}
    return render(request, "project_new.html", context)


@router.post("/projects/new", name="project_create")
def project_create(
    request: Request, user: ProjectStarter, session: SessionDep, form: FormDep
) -> Response:
    try:
        project = start_project(session, user, ProjectFields.from_form(form))
    except DomainError as exc:
        context = {"values": form, "errors": field_errors(exc), "kinds": KIND_CHOICES}
        return render(request, "project_new.html", context, status_code=status_of(exc))
    flash(request, _("Project “%(name)s” created. You are its lead.", name=project.name))
    return see_other(request, "project", project_id=project.id)


def _settings_page(
    request: Request,
    session: Session,
    access: ProjectAccess,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    pipeline_values: dict[str, str] | None = None,
    pipeline_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pipeline = pipeline_of(session, access.project)
    shown = pipeline_values if pipeline_values is not None else _pipeline_values(pipeline)
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "values": values or _values_of(access.project),
        "errors": errors or {},
        "kinds": KIND_CHOICES,
        "tab": "settings",
        "pipeline": pipeline,
        "pipeline_values": shown,
        "pipeline_rows": _rows(shown),
        "pipeline_errors": pipeline_errors or {},
        "pipeline_names": {"group": GROUP_NAME, "design": DESIGN_NAME, "ambiguous": AMBIGUOUS_NAME},
    }
    return render(request, "project_settings.html", context, status_code=status_code)


@router.get("/projects/{project_id}/settings", name="project_settings")
def project_settings(request: Request, access: LeadAccess, session: SessionDep) -> Response:
    return _settings_page(request, session, access)


@router.post("/projects/{project_id}/settings", name="project_settings_save")
def project_settings_save(
    request: Request, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    try:
        update_project(session, access, ProjectFields.from_form(form))
    except DomainError as exc:
        return _settings_page(
            request,
            session,
            access,
            values=form,
            errors=field_errors(exc),
            status_code=status_of(exc),
        )
    flash(request, _("Settings saved."))
    return see_other(request, "project_settings", project_id=access.project.id)


@router.post("/projects/{project_id}/pipeline", name="project_pipeline_save")
def project_pipeline_save(
    request: Request, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    try:
        pipeline = declare_pipeline(session, access, PipelineFields.from_form(form))
    except DomainError as exc:
        return _settings_page(
            request,
            session,
            access,
            pipeline_values=form,
            pipeline_errors=field_errors(exc, "modules"),
            status_code=status_of(exc),
        )
    if pipeline is None:
        flash(request, _("The project declares no pipeline now; the blame causes are archived."))
    else:
        flash(
            request,
            _(
                "Pipeline saved: %(chain)s. Blame it in “%(group)s”.",
                chain=pipeline.chain,
                group=pipeline.group_name,
            ),
        )
    return see_other(request, "project_settings", project_id=access.project.id)


@router.get("/projects/{project_id}/archive", name="project_archive_confirm")
def project_archive_confirm(request: Request, access: OpenLeadAccess) -> Response:
    project = access.project
    context = {
        "title": _("Archive “%(name)s”?", name=project.name),
        "explanation": _(
            "The project becomes read-only and leaves the default projects list. Nothing is "
            "deleted: annotations, causes and runs stay, and a lead can restore it any time."
        ),
        "action": request.app.url_path_for("project_archive", project_id=project.id),
        "button": _("Archive the project"),
        "cancel": request.app.url_path_for("project_settings", project_id=project.id),
        "danger": False,
    }
    return render(request, "confirm.html", context)


@router.post("/projects/{project_id}/archive", name="project_archive")
def project_archive(request: Request, access: LeadAccess, session: SessionDep) -> Response:
    archive_project(session, access)
    flash(request, _("Project archived: it is read-only until restored."))
    return see_other(request, "project", project_id=access.project.id)


@router.post("/projects/{project_id}/restore", name="project_restore")
def project_restore(request: Request, access: LeadAccess, session: SessionDep) -> Response:
    restore_project(session, access)
    flash(request, _("Project restored: the team can work on it again."))
    return see_other(request, "project", project_id=access.project.id)


def _delete_page(
    request: Request, access: ProjectAccess, refused: DomainError | None = None, typed: str = ""
) -> Response:
    project = access.project
    context = {
        "title": _("Delete “%(name)s” for good?", name=project.name),
        "explanation": _(
            "Every sample, run, prediction, cause and annotation of this project is deleted "
            "and cannot be brought back. To keep its history, archive it instead."
        ),
        "action": request.app.url_path_for("project_delete", project_id=project.id),
        "button": _("Delete the project"),
        "cancel": request.app.url_path_for("project_settings", project_id=project.id),
        "danger": True,
        "confirm_name": project.name,
        "typed": typed,
        "error": field_errors(refused, "confirm_name")["confirm_name"] if refused else None,
    }
    status = status_of(refused) if refused else 200
    return render(request, "confirm.html", context, status_code=status)


@router.get("/projects/{project_id}/delete", name="project_delete_confirm")
def project_delete_confirm(request: Request, access: DeleteAccess) -> Response:
    return _delete_page(request, access)


@router.post("/projects/{project_id}/delete", name="project_delete")
def project_delete(
    request: Request, access: DeleteAccess, session: SessionDep, form: FormDep
) -> Response:
    typed = form.get("confirm_name", "")
    try:
        name = delete_project(session, access, typed)
    except DomainError as exc:
        return _delete_page(request, access, exc, typed)
    flash(request, _("Project “%(name)s” deleted.", name=name))
    return see_other(request, "projects")
