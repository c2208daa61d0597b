"""The projects list and the project page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import CurrentUser, ProjectAccessDep, SessionDep, SettingsDep
from app.domain.accounts.site import may_create_projects
from app.domain.analysis.dashboard import summary
from app.domain.analysis.health import set_health
from app.domain.projects.access import visible_projects
from app.domain.projects.causes import cause_counts, cause_groups
from app.domain.projects.runs import home_run, runs_of
from app.domain.projects.team import team_of
from app.domain.review.status import run_progress
from app.domain.review.visibility import visibility_of
from app.routing import CheckedRoute
from app.templating import render
from app.web.imports import imported_notice

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


@router.get("/", name="projects")
def projects_page(
    request: Request, user: CurrentUser, session: SessionDep, archived: bool = False
) -> Response:
    context = {
        "projects": visible_projects(session, user, include_archived=archived),
        "archived": archived,
        "may_create": may_create_projects(session, user),
    }
    return render(request, "projects.html", context)


@router.get("/projects/{project_id}", name="project")
def project_page(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    settings: SettingsDep,
    imported: str | None = None,
) -> Response:
    project = access.project
    run = home_run(session, project)
    notice = imported_notice(settings.media_path, access, imported)
    # Just after an import, the set's health as the imported run sees it: the size advice
    # belongs with the import's summary.
    health_run = notice["run"] if notice else run.name if run is not None else None
    context = {
        "access": access,
        "project": project,
        "runs": runs_of(session, project),
        "progress": run_progress(session, project, run) if run is not None else None,
        "team": team_of(session, project),
        "cause_groups": cause_groups(session, project),
        "cause_counts": cause_counts(session, project, visibility_of(access)),
        "tab": "overview",
        "imported": notice,
        "board": summary(session, access, run.name) if run is not None else None,
        "health": set_health(session, access, health_run) if health_run is not None else None,
    }
    return render(request, "project.html", context)
