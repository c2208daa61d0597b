"""The error-analysis spreadsheet, the leads' dashboard, their downloads and adjudication."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from app.dependencies import LeadAccess, ProjectAccessDep, SessionDep
from app.domain.analysis.dashboard import dashboard, summary
from app.domain.analysis.health import set_health
from app.domain.analysis.pipeline import blame_of
from app.domain.analysis.sheet import error_row, open_run
from app.domain.analysis.sheet_export import label_corrections_csv, sheet_csv, sheet_xlsx
from app.domain.analysis.views import (
    Filters,
    Sort,
    live_update,
    open_sheet,
    open_slice,
    parse_view,
    read_view,
)
from app.domain.errors import InvalidInput
from app.domain.numbers import whole_number
from app.domain.projects.runs import runs_of
from app.domain.review.adjudication import adjudicate
from app.domain.review.annotations import Draft
from app.domain.review.label_audit import audit_of
from app.domain.review.status import ErrorStatus
from app.downloads import attachment, export_filename
from app.i18n import gettext as _
from app.routing import CheckedRoute
from app.templating import flash, is_htmx, path_for, render
from app.web.auth import safe_next
from app.web.bias_variance import panel as bias_panel

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def view_of(params: QueryParams) -> tuple[Filters, Sort, int]:
    return parse_view(params, params.getlist)


@router.get("/projects/{project_id}/runs/{run}/sheet", name="sheet")
def sheet_page(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    params = request.query_params
    filters, sort, page, problems = read_view(params, params.getlist)
    view = open_sheet(session, access, run, filters, sort, page)
    context = {
        "access": access,
        "project": access.project,
        "view": view,
        "problems": problems,
        "runs": runs_of(session, access.project),
        "statuses": list(ErrorStatus),
    }
    status = 422 if problems else 200
    return render(request, "sheet.html", context, fragment="sheet_table", status_code=status)


def _ids(value: str | None, name: str) -> list[int]:
    # Not `prediction`: that is the sheet's filter on the predicted label.
    ids = [whole_number(p) for p in (value or "").split(",") if p.strip()]
    if None in ids:
        raise InvalidInput({name: _("A comma-separated list of ids.")})
    return [i for i in ids if i is not None]


@router.get("/projects/{project_id}/runs/{run}/sheet/live", name="sheet_live")
def sheet_live(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    """After a save: that error's row and the footer, for an open sheet to swap in."""
    if not is_htmx(request):
        return RedirectResponse(
            path_for(request.app, "sheet", project_id=access.project.id, run=run), 303
        )
    params = request.query_params
    filters, sort, page = view_of(params)
    live = live_update(
        session,
        access,
        run,
        filters,
        sort,
        page,
        changed=_ids(params.get("changed"), "changed"),
        shown=_ids(params.get("shown"), "shown"),
        columns=_ids(params.get("columns"), "columns"),
    )
    context = {"access": access, "project": access.project, "live": live}
    return render(request, "_sheet_live.html", context)


@router.get("/projects/{project_id}/runs/{run}/sheet.csv", name="sheet_csv")
def sheet_csv_download(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    filters, sort, _ = view_of(request.query_params)
    view = open_slice(session, access, run, filters, sort)
    name = export_filename(access.project.id, view.data.run.name, "sheet.csv", filters.query())
    return attachment(sheet_csv(view), "text/csv; charset=utf-8", name)


@router.get("/projects/{project_id}/runs/{run}/sheet.xlsx", name="sheet_xlsx")
def sheet_xlsx_download(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    filters, sort, _ = view_of(request.query_params)
    view = open_slice(session, access, run, filters, sort)
    name = export_filename(access.project.id, view.data.run.name, "sheet.xlsx", filters.query())
    return attachment(sheet_xlsx(view), XLSX, name)


@router.get("/projects/{project_id}/runs/{run}/label-corrections.csv", name="label_corrections")
def label_corrections_download(run: str, access: ProjectAccessDep, session: SessionDep) -> Response:
    view = open_slice(session, access, run, Filters(label_error=True), Sort())
    name = export_filename(access.project.id, view.data.run.name, "label-corrections.csv")
    return attachment(label_corrections_csv(view.rows), "text/csv; charset=utf-8", name)


@router.get("/projects/{project_id}/runs/{run}/dashboard", name="dashboard")
def dashboard_page(request: Request, run: str, access: LeadAccess, session: SessionDep) -> Response:
    board = dashboard(session, access, run)
    runs = runs_of(session, access.project)
    context = {
        "access": access,
        "project": access.project,
        "board": board,
        "runs": runs,
        "health": set_health(session, access, run),
        "bias": bias_panel(board.data.run, runs),
        "audit": audit_of(session, board.data.run),
        "pipeline": blame_of(session, access.project, board.tally),
    }
    return render(request, "dashboard.html", context, fragment="dashboard_live")


@router.get("/projects/{project_id}/runs/{run}/summary", name="tally_summary")
def tally_summary(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    """The project page's ceiling summary, refreshing itself as annotators save."""
    if not is_htmx(request):
        # Opened as a page: the summary lives on the project page.
        return RedirectResponse(path_for(request.app, "project", project_id=access.project.id), 303)
    context = {"access": access, "project": access.project, "board": summary(session, access, run)}
    return render(request, "_tally_summary.html", context)


@router.get(
    "/projects/{project_id}/runs/{run}/errors/{prediction_id}/adjudication", name="adjudication"
)
def adjudication_page(
    request: Request, run: str, prediction_id: int, access: LeadAccess, session: SessionDep
) -> Response:
    data = open_run(session, access, run)
    context = {
        "access": access,
        "project": access.project,
        "data": data,
        "row": error_row(session, data, prediction_id),
        "back": request.query_params.get("back", ""),
    }
    return render(request, "adjudication.html", context)


@router.post(
    "/projects/{project_id}/runs/{run}/errors/{prediction_id}/adjudication", name="adjudicate"
)
def adjudicate_submit(
    request: Request,
    run: str,
    prediction_id: int,
    access: LeadAccess,
    session: SessionDep,
    version: Annotated[int, Form()],
    cause: Annotated[list[int] | None, Form()] = None,
    label_error: Annotated[bool, Form()] = False,
    suggested_label: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    draft = Draft(
        cause_ids=frozenset(cause or ()),
        label_error=label_error,
        suggested_label=suggested_label,
        note=note,
    )
    result = adjudicate(session, access, run, prediction_id, draft, expected_version=version)
    causes = ", ".join(result.state.cause_names) or _("no cause")
    if result.state.label_error:
        saved = _(
            "Final verdict for %(sample)s saved: %(causes)s; label error. "
            "It overrides the vote on the sheet.",
            sample=result.external_id,
            causes=causes,
        )
    else:
        saved = _(
            "Final verdict for %(sample)s saved: %(causes)s. It overrides the vote on the sheet.",
            sample=result.external_id,
            causes=causes,
        )
    flash(request, saved)
    sheet_url = request.app.url_path_for("sheet", project_id=access.project.id, run=run)
    return RedirectResponse(safe_next(back, f"{sheet_url}?disagreements=1"), status_code=303)
