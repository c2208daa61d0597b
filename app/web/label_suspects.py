"""Hunting label errors: a run's most suspicious labels, as a page and a CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.dependencies import ProjectAccessDep, SessionDep
from app.domain.analysis.label_suspects import MAX_LIMIT, label_suspects, suspects_csv
from app.domain.projects.runs import runs_of
from app.downloads import attachment, export_filename
from app.routing import CheckedRoute
from app.templating import render

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

Budget = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]


@router.get("/projects/{project_id}/runs/{run}/label-suspects", name="label_suspects")
def suspects_page(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep, limit: Budget = None
) -> Response:
    result = label_suspects(session, access, run, limit)
    context = {
        "access": access,
        "project": access.project,
        "result": result,
        "runs": runs_of(session, access.project),
        "limit": limit or result.default_budget,
        "max_limit": MAX_LIMIT,
    }
    return render(request, "label_suspects.html", context)


@router.get("/projects/{project_id}/runs/{run}/label-suspects.csv", name="label_suspects_csv")
def suspects_download(
    run: str, access: ProjectAccessDep, session: SessionDep, limit: Budget = None
) -> Response:
    result = label_suspects(session, access, run, limit)
    name = export_filename(access.project.id, result.run.name, "label-suspects.csv")
    return attachment(suspects_csv(result), "text/csv; charset=utf-8", name)
