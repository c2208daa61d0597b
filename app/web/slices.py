"""When the model beats people: a run's error rate by metadata slice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import ProjectAccessDep, SessionDep
from app.domain.analysis.slices import Versus, slice_table
from app.domain.projects.runs import runs_of
from app.routing import CheckedRoute
from app.templating import render

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


@router.get("/projects/{project_id}/runs/{run}/slices", name="slices")
def slices_page(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep, key: str = ""
) -> Response:
    context = {
        "access": access,
        "project": access.project,
        "table": slice_table(session, access, run, key or None),
        "runs": runs_of(session, access.project),
        "worse": Versus.WORSE,
    }
    return render(request, "slices.html", context)
