"""Signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from app.dependencies import SESSION_EPOCH, SESSION_USER, OptionalUser, SessionDep
from app.domain.accounts import throttle
from app.domain.accounts.users import OneTimePasswordExpired, end_sign_ins
from app.i18n import gettext as _
from app.routing import CheckedRoute
from app.templating import render

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths: a sign-in link must not bounce people to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    if any(ch in target for ch in "\r\n\t"):
        return fallback
    return target


@router.get("/sign-in", name="sign_in")
def sign_in_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    home = request.app.url_path_for("projects")
    if user is not None:
        return RedirectResponse(safe_next(next, home), status_code=303)
    return render(
        request, "sign_in.html", {"next": safe_next(next, home), "username": "", "error": None}
    )


@router.post("/sign-in", name="sign_in_submit")
def sign_in(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    home = request.app.url_path_for("projects")
    attempt = throttle.Attempt(username, request.client.host if request.client else None)
    context = {"next": safe_next(next, home), "username": username}
    try:
        user = throttle.sign_in(session, attempt, password)
    except OneTimePasswordExpired as exc:
        return render(request, "sign_in.html", {**context, "error": exc.message}, status_code=403)
    except throttle.TooManySignIns as exc:
        response = render(
            request, "sign_in.html", {**context, "error": exc.message}, status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        # Answered, not raised: the failure just counted is committed with the request.
        context["error"] = _("Wrong username or password.")
        return render(request, "sign_in.html", context, status_code=400)
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_EPOCH] = user.session_epoch
    return RedirectResponse(safe_next(next, home), status_code=303)


@router.post("/sign-out", name="sign_out")
def sign_out(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    # Clearing the cookie only empties this browser's copy; a copy taken earlier would
    # stay valid for the cookie's lifetime, so the sign-in is ended on the server too.
    if user is not None:
        end_sign_ins(session, user)
    request.session.clear()
    return RedirectResponse(request.app.url_path_for("sign_in"), status_code=303)
