"""Getting a token from a username and password, for notebooks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from app.api.responses import problem
from app.dependencies import SessionDep
from app.domain.accounts import throttle
from app.domain.accounts.users import create_token
from app.errors import PasswordChangeRequired
from app.routing import CheckedRoute
from app.schemas.auth import TokenIn, TokenOut

router = APIRouter(route_class=CheckedRoute, tags=["account"])


@router.post(
    "/auth/token",
    name="api_create_token",
    status_code=201,
    response_model=TokenOut,
    summary="Create an API token (shown once)",
    responses={
        401: problem("Wrong username or password", "Wrong username or password."),
        403: problem(
            "The password is a one-time password: choose your own first (or it expired:"
            " an administrator resets it)",
            "Choose a new password on My account before using Eyeball.",
        ),
        429: problem(
            "Too many failed sign-ins for this account or from this address (see Retry-After)",
            "Too many failed sign-ins. Try again in 15 minutes.",
        ),
    },
)
def create_api_token(
    body: TokenIn, request: Request, session: SessionDep
) -> TokenOut | JSONResponse:
    """Send it back as `Authorization: Bearer <token>`. It is stored hashed: keep it safe."""
    attempt = throttle.Attempt(body.username, request.client.host if request.client else None)
    user = throttle.sign_in(session, attempt, body.password)
    if user is None:
        # Answered, not raised: the failure just counted is committed with the request.
        return JSONResponse(
            {"detail": "Wrong username or password."},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if user.must_change_password:
        raise PasswordChangeRequired()
    issued = create_token(session, user, body.name)
    return TokenOut(token=issued.secret, name=issued.token.name, id=issued.token.id)
