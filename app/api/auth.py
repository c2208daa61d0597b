"""Getting a token from a username and password, for notebooks."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.responses import problem
from app.dependencies import SessionDep
from app.domain.accounts.users import authenticate, create_token
from app.errors import PasswordChangeRequired, SignInRequired
from app.schemas.auth import TokenIn, TokenOut

router = APIRouter(tags=["account"])


@router.post(
    "/auth/token",
    name="api_create_token",
    status_code=201,
    response_model=TokenOut,
    summary="Create an API token (shown once)",
    responses={
        401: problem("Wrong username or password", "Wrong username or password."),
        403: problem(
            "The password is a one-time password: choose your own first",
            "Choose a new password on My account before using Eyeball.",
        ),
    },
)
def create_api_token(body: TokenIn, session: SessionDep) -> TokenOut:
    """Send it back as `Authorization: Bearer <token>`. It is stored hashed: keep it safe."""
    user = authenticate(session, body.username, body.password)
    if user is None:
        raise SignInRequired("Wrong username or password.")
    if user.must_change_password:
        raise PasswordChangeRequired()
    issued = create_token(session, user, body.name)
    return TokenOut(token=issued.secret, name=issued.token.name, id=issued.token.id)
