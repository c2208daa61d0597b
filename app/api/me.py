"""Who am I: the simplest way for a notebook to check its token."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiUser
from app.api.responses import UNAUTHORIZED
from app.routing import CheckedRoute
from app.schemas.me import UserOut

router = APIRouter(route_class=CheckedRoute, tags=["account"])


@router.get(
    "/me",
    name="api_me",
    response_model=UserOut,
    summary="The user the token belongs to",
    description="The simplest call a notebook can make to check that its token works.",
    responses={401: UNAUTHORIZED},
)
def me(user: ApiUser) -> UserOut:
    return UserOut.from_user(user)
