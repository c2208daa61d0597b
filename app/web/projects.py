"""The projects list and the project page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import CurrentUser, ProjectAccessDep, SessionDep, SettingsDep
from app.domain.causes import cause_counts
from app.domain.dashboard import summary
from app.domain.projects import (
    causes_of,
    home_run,
    run_progress,
    runs_of,
    team_of,
    visible_projects,
)
from app.domain.site import may_create_projects
from app.templating import render
from app.web.imports import imported_notice

router = APIRouter(include_in_schema=False)


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
    context = {
        "access": access,
        "project": project,
        "runs": runs_of(session, project),
        "progress": run_progress(session, run) if run is not None else None,
        "team": team_of(session, project),
        "cause_groups": causes_of(session, project),
        "cause_counts": cause_counts(session, project),
        "tab": "overview",
        "imported": imported_notice(settings.media_path, access, imported),
        "board": summary(session, access, run.name) if run is not None else None,
    }
    return render(request, "project.html", context)
