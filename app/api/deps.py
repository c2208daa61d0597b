"""Who is calling the API: a bearer token, or (for reading only) a signed-in browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict

from app.dependencies import SESSION_EPOCH, SESSION_USER, DatabaseDep, SessionDep
from app.domain.accounts.admin import require_admin
from app.domain.accounts.site import require_may_create_projects
from app.domain.accounts.users import signed_in_user, user_for_token
from app.domain.analysis.views import with_ids
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.projects.settings import require_may_delete
from app.errors import PasswordChangeRequired, SignInRequired
from app.models import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenRefused(SignInRequired):
    """A bearer token was sent but is unknown, revoked or its owner deactivated."""


# Declared, not only read: /openapi.json then names the scheme on every operation that
# takes a caller, and /docs gets its "Authorize" button. Without auto_error a call with
# no token falls through to the signed-in browser (reads only), and the refusal keeps
# this API's own 401 with its message.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="APIToken",
    bearerFormat="eyb_…",
    description="An API token: create one on My account, with `eyeball token create`, "
    "or with POST /api/v1/auth/token. Sent as `Authorization: Bearer <token>`.",
)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _browser_user(request: Request, session: Session) -> User | None:
    return signed_in_user(
        session, request.session.get(SESSION_USER), request.session.get(SESSION_EPOCH)
    )


def get_api_user(
    request: Request, session: SessionDep, database: DatabaseDep, token: BearerToken
) -> User:
    secret = (token.credentials.strip() or None) if token is not None else None
    user = _caller(request, session, database, secret)
    request.state.user_id = user.id  # for the request log
    # A one-time password was meant for one sign-in; a token must not make it last forever.
    if user.must_change_password:
        raise PasswordChangeRequired()
    return user


def _caller(request: Request, session: Session, database: DatabaseDep, secret: str | None) -> User:
    if secret is not None:
        # A request's write transaction records the use itself: a second writer beside
        # it would wait on SQLite for the lock that transaction holds.
        reads_only = getattr(request.state, "reads_only", True)
        user = user_for_token(session, secret, database if reads_only else None)
        if user is None:
            raise TokenRefused("This API token is unknown or revoked.")
        return user
    # Cookies are ignored for writes, so a cross-site form can never act through the API.
    if request.method in SAFE_METHODS:
        user = _browser_user(request, session)
        if user is not None:
            return user
    raise SignInRequired()


ApiUser = Annotated[User, Depends(get_api_user)]


# Ids are INTEGER columns: PostgreSQL refuses to compare one with a larger number (a 500).
MAX_ID = 2**31 - 1
ProjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="The project's id", examples=[3])]
CauseId = Annotated[int, Path(ge=1, le=MAX_ID, description="The cause's id", examples=[12])]
# A NUL character (which PostgreSQL text cannot hold) is refused in every path segment
# by the route class (`app.routing`), before these are read.
RunName = Annotated[
    str,
    Path(
        description="A run's name, or `latest` for the newest run",
        examples=["latest"],
    ),
]
SampleId = Annotated[str, Path(description="The sample's own id, as imported (may hold '/')")]


def get_api_project(project_id: ProjectId, user: ApiUser, session: SessionDep) -> ProjectAccess:
    return get_access(session, user, project_id)


ApiProject = Annotated[ProjectAccess, Depends(get_api_project)]


# The permissions of app.dependencies (LeadAccess, ...), for a caller with a token.


def get_api_lead_access(access: ApiProject) -> ProjectAccess:
    access.require_lead()
    return access


ApiLeadAccess = Annotated[ProjectAccess, Depends(get_api_lead_access)]


def get_api_open_lead_access(access: ApiProject) -> ProjectAccess:
    access.require_open_lead()
    return access


ApiOpenLeadAccess = Annotated[ProjectAccess, Depends(get_api_open_lead_access)]


def get_api_delete_access(access: ApiProject) -> ProjectAccess:
    require_may_delete(access)
    return access


ApiDeleteAccess = Annotated[ProjectAccess, Depends(get_api_delete_access)]


def get_api_admin_user(user: ApiUser) -> User:
    require_admin(user)
    return user


ApiAdminUser = Annotated[User, Depends(get_api_admin_user)]


def get_api_project_starter(user: ApiUser, session: SessionDep) -> User:
    require_may_create_projects(session, user)
    return user


ApiProjectStarter = Annotated[User, Depends(get_api_project_starter)]


def get_view_params(
    request: Request, access: ApiProject, session: SessionDep
) -> ImmutableMultiDict[str, str]:
    """The query with the sheet's filters by id, whether the caller named or numbered them."""
    return ImmutableMultiDict(with_ids(session, access.project, request.query_params.multi_items()))


# The sheet's filters, as notebooks may write them: `cause=Blurry&annotator=ann`.
ViewParams = Annotated[ImmutableMultiDict[str, str], Depends(get_view_params)]
