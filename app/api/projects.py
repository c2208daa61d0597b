"""Projects, their teams and (for admins) users, for notebooks that set up their own work."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import (
    ApiAdminUser,
    ApiDeleteAccess,
    ApiLeadAccess,
    ApiOpenLeadAccess,
    ApiProject,
    ApiProjectStarter,
    ApiUser,
)
from app.api.responses import (
    ADMINS_ONLY,
    INVALID,
    LEADS_ONLY,
    PROJECT_ERRORS,
    UNAUTHORIZED,
    problem,
)
from app.dependencies import SessionDep
from app.domain.accounts.admin import create_user_with_password
from app.domain.accounts.site import MayNotCreateProjects
from app.domain.projects.access import ProjectAccess, visible_projects
from app.domain.projects.settings import (
    AdminsDelete,
    ProjectFields,
    archive_project,
    delete_project,
    restore_project,
    start_project,
    update_project,
)
from app.domain.projects.team import parse_role, remove_member_by_username, set_member_role, team_of
from app.models import ProjectRole, User
from app.routing import CheckedRoute
from app.schemas.me import UserOut
from app.schemas.projects import MemberIn, MemberOut, ProjectIn, ProjectOut, ProjectPatch, UserIn

router = APIRouter(route_class=CheckedRoute, tags=["projects"])

Username = Annotated[str, Path(description="The person's username", examples=["grace"])]


def _out(access: ProjectAccess) -> ProjectOut:
    return ProjectOut.of(access.project, access.role)


@router.get(
    "/projects",
    name="api_projects",
    response_model=list[ProjectOut],
    summary="The projects the caller may open",
    description="Every project the caller is on the team of (admins: every project), by name. "
    "Archived projects are listed too when `archived=true`.",
    responses={401: UNAUTHORIZED},
)
def list_projects(user: ApiUser, session: SessionDep, archived: bool = False) -> list[ProjectOut]:
    return [
        ProjectOut.of(project, role)
        for project, role in visible_projects(session, user, include_archived=archived)
    ]


@router.post(
    "/projects",
    name="api_create_project",
    status_code=201,
    response_model=ProjectOut,
    summary="Start a project; the caller becomes its lead",
    description="Admins and leads may always start projects; other members only when an admin "
    "allows it on the admin page. Project names are unique (any case).",
    responses={
        401: UNAUTHORIZED,
        403: problem("The caller may not start projects", MayNotCreateProjects.MESSAGE),
        409: problem("The name is taken", "A project named 'Cat detector' already exists."),
        422: INVALID,
    },
)
def create_project(body: ProjectIn, user: ApiProjectStarter, session: SessionDep) -> ProjectOut:
    fields = ProjectFields.checked(**body.model_dump())
    project = start_project(session, user, fields)
    return ProjectOut.of(project, ProjectRole.LEAD)


@router.get(
    "/projects/{project_id}",
    name="api_project",
    response_model=ProjectOut,
    summary="One project",
    description="Its settings and the caller's role in it.",
    responses=PROJECT_ERRORS,
)
def get_project(access: ApiProject) -> ProjectOut:
    return _out(access)


@router.patch(
    "/projects/{project_id}",
    name="api_update_project",
    response_model=ProjectOut,
    summary="Change a project's settings, archive or restore it",
    description="Leads (and admins) only. Only the fields given change. An archived project is "
    'read-only: `{"archived": false}` restores it (and may come with other changes). The kind '
    "cannot change once samples are imported, and the labels must keep every label in use.",
    responses={
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        409: problem("The name is taken", "A project named 'Cat detector' already exists."),
        422: INVALID,
    },
)
def patch_project(body: ProjectPatch, access: ApiLeadAccess, session: SessionDep) -> ProjectOut:
    # null, like a missing field, leaves the setting as it is.
    changes = body.model_dump(exclude_none=True, exclude={"archived"})
    if body.archived is False:
        restore_project(session, access)
    if changes:
        values = asdict(ProjectFields.of(access.project))
        update_project(session, access, ProjectFields.checked(**(values | changes)))
    if body.archived:
        archive_project(session, access)
    return _out(access)


@router.delete(
    "/projects/{project_id}",
    name="api_delete_project",
    status_code=204,
    response_class=Response,
    summary="Delete a project and everything in it",
    description="Admins only, and for good: its runs, samples, annotations and history go. "
    'Leads archive instead (`PATCH` with `{"archived": true}`).',
    responses={
        **PROJECT_ERRORS,
        403: problem("Only admins delete projects", AdminsDelete.MESSAGE),
    },
)
def remove_project(access: ApiDeleteAccess, session: SessionDep) -> Response:
    delete_project(session, access, access.project.name)
    return Response(status_code=204)


# --- the team ---------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/members",
    name="api_members",
    response_model=list[MemberOut],
    summary="The project's team",
    description="Everyone on the team with their role, leads first.",
    responses=PROJECT_ERRORS,
)
def list_members(access: ApiProject, session: SessionDep) -> list[MemberOut]:
    return [
        MemberOut(username=m.user.username, display_name=m.user.display_name, role=m.role.value)
        for m in team_of(session, access.project)
    ]


@router.put(
    "/projects/{project_id}/members/{username}",
    name="api_set_member",
    response_model=MemberOut,
    summary="Put someone on the team, or change their role",
    description="Leads (and admins) only. 201 when the person joins, 200 when a member's role "
    "changes (or stays). The project always keeps a lead: its only lead cannot step down.",
    responses={
        201: {"description": "Added to the team", "model": MemberOut},
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        409: problem(
            "The project would lose its last lead",
            "The project's only lead cannot step down; make someone else lead first.",
        ),
        422: problem("Bad role, or the user is deactivated", "Pick lead or annotator."),
    },
)
def set_member(
    username: Username,
    body: MemberIn,
    access: ApiOpenLeadAccess,
    session: SessionDep,
    response: Response,
) -> MemberOut:
    membership, added = set_member_role(session, access, username, parse_role(body.role))
    if added:
        response.status_code = 201
    person = session.get(User, membership.user_id)
    assert person is not None  # the membership's foreign key guarantees it
    return MemberOut(
        username=person.username, display_name=person.display_name, role=membership.role.value
    )


@router.delete(
    "/projects/{project_id}/members/{username}",
    name="api_remove_member",
    status_code=204,
    response_class=Response,
    summary="Take someone off the team",
    description="Leads (and admins) only. Their annotations stay, attributed to them.",
    responses={
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        409: problem(
            "The project would lose its last lead",
            "The project's only lead cannot leave; make someone else lead first.",
        ),
    },
)
def delete_member(username: Username, access: ApiOpenLeadAccess, session: SessionDep) -> Response:
    remove_member_by_username(session, access, username)
    return Response(status_code=204)


# --- users ------------------------------------------------------------------------------


@router.post(
    "/users",
    name="api_create_user",
    status_code=201,
    response_model=UserOut,
    summary="Create a user (admins only)",
    description="The admin chooses the password (e.g. for a pipeline's service account); "
    "people created on the admin page get a one-time password instead.",
    responses={
        401: UNAUTHORIZED,
        403: ADMINS_ONLY,
        409: problem("The username is taken", "The username 'grace' is taken."),
        422: problem("Bad username or too weak a password", "'a b' is not a valid username."),
    },
)
def create_user(body: UserIn, user: ApiAdminUser, session: SessionDep) -> UserOut:
    created = create_user_with_password(
        session, user, body.username, body.password, admin=body.admin
    )
    return UserOut.from_user(created)
