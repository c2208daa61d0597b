"""Did our fix work? Two runs of a project side by side, for leads and annotators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import ProjectAccessDep, SessionDep
from app.domain.analysis.compare import compare_pair
from app.domain.projects.runs import resolve_run, runs_of
from app.routing import CheckedRoute
from app.templating import render

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

LISTED = 100  # errors shown in each of fixed, new and stayed; the API lists them all


@router.get("/projects/{project_id}/compare", name="compare")
def compare_page(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    a: str = "",
    b: str = "",
) -> Response:
    """`a` the run before, `b` the one after; by default the two newest."""
    runs = runs_of(session, access.project)
    context = {
        "access": access,
        "project": access.project,
        "runs": runs,
        "comparison": None,
        "same_run": False,
        "listed": LISTED,
        "tab": "compare",
    }
    if len(runs) >= 2:
        before = resolve_run(session, access.project, a) if a else runs[-2]
        after = resolve_run(session, access.project, b) if b else runs[-1]
        if before.id == after.id:
            context["same_run"] = True
        else:
            context["comparison"] = compare_pair(session, access, before, after)
        context["before"], context["after"] = before, after
    return render(request, "compare.html", context)
