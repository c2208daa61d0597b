"""Typed dependency aliases used in every route signature."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app import i18n
from app.config import Settings
from app.db import Database
from app.domain.accounts.admin import require_admin
from app.domain.accounts.site import require_may_create_projects
from app.domain.accounts.users import signed_in_user
from app.domain.imports.store import MediaStore, media_store
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.projects.settings import require_may_delete
from app.errors import PasswordChangeRequired, SignInRequired
from app.models import User

SESSION_USER = "uid"
SESSION_EPOCH = "epoch"
_WRITES_ON_GET = "eyeball_writes_on_get"
_OWN_TRANSACTIONS = "eyeball_own_transactions"

F = TypeVar("F", bound=Callable[..., Any])


def writes_on_get(endpoint: F) -> F:
    """Marks a GET route that records something (the review queue's lease on an error),
    so its session is a writer: on SQLite a read transaction cannot become a write."""
    setattr(endpoint, _WRITES_ON_GET, True)
    return endpoint


def own_transactions(endpoint: F) -> F:
    """Marks a route that writes in transactions of its own (an import: check, then one
    short write), so the request's session only reads: on SQLite a writer's session would
    hold the write lock while the import checks its files."""
    setattr(endpoint, _OWN_TRANSACTIONS, True)
    return endpoint


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_media_store(request: Request) -> MediaStore:
    return media_store(get_settings_dep(request))


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    database = get_database(request)
    endpoint = request.scope.get("endpoint")
    reads_only = (
        request.method in {"GET", "HEAD"} and not getattr(endpoint, _WRITES_ON_GET, False)
    ) or getattr(endpoint, _OWN_TRANSACTIONS, False)
    factory = database.reader if reads_only else database.writer
    # Read by what must write beside a read-only request (an API token's use).
    request.state.reads_only = reads_only
    with factory() as session:
        yield session
        session.commit()


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]
# scope="function": the commit happens when the route returns, before anything is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_optional_user(request: Request, session: SessionDep) -> User | None:
    if request.session.get(SESSION_USER) is None:
        return None
    user = signed_in_user(
        session, request.session.get(SESSION_USER), request.session.get(SESSION_EPOCH)
    )
    if user is None:
        request.session.clear()
        return None
    request.state.user = user
    if user.language:
        i18n.use_language(user.language)
    # Read by the request log once the response is sent, when the user's session (and
    # so its attributes) may be gone.
    request.state.user_id = user.id
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


# The checks below read nothing: `async`, FastAPI runs them on the event loop instead of
# handing each to a worker thread and back, a hop each on every request.


async def get_signed_in_user(user: OptionalUser) -> User:
    if user is None:
        raise SignInRequired()
    return user


# Signed in, possibly still on a one-time password: only My account takes this.
SignedInUser = Annotated[User, Depends(get_signed_in_user)]


async def get_current_user(user: SignedInUser) -> User:
    if user.must_change_password:
        raise PasswordChangeRequired()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_project_access(project_id: int, user: CurrentUser, session: SessionDep) -> ProjectAccess:
    return get_access(session, user, project_id)


ProjectAccessDep = Annotated[ProjectAccess, Depends(get_project_access)]


# Who may call a route, said by its signature. Each dependency asks the domain's own
# check, so a page refuses with the words the domain uses everywhere else.


async def get_lead_access(access: ProjectAccessDep) -> ProjectAccess:
    access.require_lead()
    return access


# A lead of the project, or a site admin.
LeadAccess = Annotated[ProjectAccess, Depends(get_lead_access)]


async def get_open_lead_access(access: ProjectAccessDep) -> ProjectAccess:
    access.require_open_lead()
    return access


# A lead (or site admin) changing a project that is not archived.
OpenLeadAccess = Annotated[ProjectAccess, Depends(get_open_lead_access)]


async def get_delete_access(access: ProjectAccessDep) -> ProjectAccess:
    require_may_delete(access)
    return access


# Someone who may delete the project: a site admin.
DeleteAccess = Annotated[ProjectAccess, Depends(get_delete_access)]


async def get_admin_user(user: CurrentUser) -> User:
    require_admin(user)
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


def get_project_starter(user: CurrentUser, session: SessionDep) -> User:
    require_may_create_projects(session, user)
    return user


# Someone this site lets start projects.
ProjectStarter = Annotated[User, Depends(get_project_starter)]
