"""The runs page: counts, reported metrics and which run the project page opens on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import OpenLeadAccess, ProjectAccessDep, SessionDep
from app.domain.errors import DomainError
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import (
    METRIC_LABELS,
    RunFields,
    get_run,
    home_run,
    run_table,
    set_default_run,
    update_run,
)
from app.errors import status_of
from app.i18n import gettext as _
from app.models import METRIC_FIELDS, Run
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


def _percent_text(value: float | None) -> str:
    return "" if value is None else f"{value * 100:g}"


def _values_of(run: Run) -> dict[str, str]:
    values = {
        "name": run.name,
        "description": run.description,
        "evaluated": "" if run.evaluated is None else str(run.evaluated),
    }
    values.update({m: _percent_text(getattr(run, m)) for m in METRIC_FIELDS})
    return values


def _page(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    *,
    editing: Run | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    shown = home_run(session, access.project)
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "rows": run_table(session, access),
        "shown_id": shown.id if shown else None,
        "metrics": METRIC_LABELS,
        "editing": editing,
        "values": values or (_values_of(editing) if editing else {}),
        "errors": errors or {},
        "tab": "runs",
    }
    return render(request, "runs.html", context, status_code=status_code)


@router.get("/projects/{project_id}/runs", name="runs")
def runs_page(request: Request, access: ProjectAccessDep, session: SessionDep) -> Response:
    return _page(request, session, access)


@router.get("/projects/{project_id}/runs/{run_id}", name="run_edit")
def run_edit(
    request: Request, access: OpenLeadAccess, session: SessionDep, run_id: int
) -> Response:
    return _page(request, session, access, editing=get_run(session, access, run_id))


@router.post("/projects/{project_id}/runs/{run_id}", name="run_save")
def run_save(
    request: Request, access: OpenLeadAccess, session: SessionDep, run_id: int, form: FormDep
) -> Response:
    run = get_run(session, access, run_id)
    try:
        update_run(session, access, run.id, RunFields.from_form(form))
    except DomainError as exc:
        return _page(
            request,
            session,
            access,
            editing=run,
            values=form,
            errors=field_errors(exc),
            status_code=status_of(exc),
        )
    flash(request, _("Run “%(name)s” saved.", name=run.name))
    return see_other(request, "runs", project_id=access.project.id)


@router.post("/projects/{project_id}/runs-default", name="run_default")
def run_default(
    request: Request, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    raw = form.get("run_id", "")
    chosen = set_default_run(session, access, whole_number(raw))
    flash(
        request,
        _("The project page now opens on “%(name)s”.", name=chosen.name)
        if chosen
        else _("The project page now opens on the newest run."),
    )
    return see_other(request, "runs", project_id=access.project.id)
