"""My account: name, password and API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import i18n
from app.dependencies import SESSION_EPOCH, CurrentUser, SessionDep, SignedInUser
from app.domain.accounts.users import (
    IssuedToken,
    change_password,
    choose_language,
    create_token,
    revoke_token,
    tokens_of,
    update_profile,
)
from app.domain.errors import DomainError, NotFound
from app.domain.projects.access import example_project
from app.errors import status_of
from app.i18n import gettext as _
from app.models import ApiToken, User
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


def _page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    issued: IssuedToken | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "user": user,
        "tokens": tokens_of(session, user),
        "errors": errors or {},
        "values": values or {"display_name": user.display_name, "language": user.language or ""},
        "languages": [("", _("As my browser asks")), *i18n.LANGUAGES.items()],
        "issued": issued,
        "example_project": example_project(session, user) if issued else None,
        "api_base": str(request.base_url).rstrip("/") + "/api/v1",
    }
    return render(request, "account.html", context, status_code=status_code)


@router.get("/account", name="account")
def account_page(request: Request, user: SignedInUser, session: SessionDep) -> Response:
    return _page(request, session, user)


@router.post("/account/profile", name="account_profile")
def account_profile(
    request: Request, user: CurrentUser, session: SessionDep, form: FormDep
) -> Response:
    try:
        update_profile(session, user, form.get("display_name", ""))
    except DomainError as exc:
        return _page(
            request,
            session,
            user,
            errors=field_errors(exc),
            values=form,
            status_code=status_of(exc),
        )
    flash(request, _("Your name is saved."))
    return see_other(request, "account")


@router.post("/account/language", name="account_language")
def account_language(
    request: Request, user: CurrentUser, session: SessionDep, form: FormDep
) -> Response:
    try:
        choose_language(session, user, form.get("language", ""))
    except DomainError as exc:
        return _page(
            request,
            session,
            user,
            errors=field_errors(exc),
            values=form,
            status_code=status_of(exc),
        )
    # The note is shown on the next page: in the language just chosen.
    i18n.use_language(user.language or "")
    flash(request, _("Your language is saved."))
    return see_other(request, "account")


@router.post("/account/password", name="account_password")
def account_password(
    request: Request, user: SignedInUser, session: SessionDep, form: FormDep
) -> Response:
    try:
        change_password(
            session,
            user,
            current=form.get("current_password", ""),
            new=form.get("new_password", ""),
            repeated=form.get("repeat_password", ""),
        )
    except DomainError as exc:
        # Passwords are never sent back into the page.
        return _page(request, session, user, errors=field_errors(exc), status_code=status_of(exc))
    # Other sign-ins now hold an outdated epoch and end; this one carries on.
    request.session[SESSION_EPOCH] = user.session_epoch
    flash(request, _("Password changed. You were signed out everywhere else."))
    return see_other(request, "account")


@router.post("/account/tokens", name="token_create")
def token_create(
    request: Request, user: CurrentUser, session: SessionDep, form: FormDep
) -> Response:
    try:
        issued = create_token(session, user, form.get("token_name", ""))
    except DomainError as exc:
        values = {"display_name": user.display_name, "token_name": form.get("token_name", "")}
        return _page(
            request,
            session,
            user,
            errors={f"token_{k}": v for k, v in field_errors(exc).items()},
            values=values,
            status_code=status_of(exc),
        )
    # Rendered, not redirected: the secret exists only in this response.
    return _page(request, session, user, issued=issued)


def _own_token(session: SessionDep, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("No such token."))
    return token


@router.get("/account/tokens/{token_id}/revoke", name="token_revoke_confirm")
def token_revoke_confirm(
    request: Request, user: CurrentUser, session: SessionDep, token_id: int
) -> Response:
    token = _own_token(session, user, token_id)
    context = {
        "title": _("Revoke the token “%(name)s”?", name=token.name),
        "explanation": _(
            "Notebooks and scripts using the token starting %(prefix)s… stop working "
            "at once. This cannot be undone: you would create a new token instead.",
            prefix=token.prefix,
        ),
        "action": request.app.url_path_for("token_revoke", token_id=token.id),
        "button": _("Revoke the token"),
        "cancel": request.app.url_path_for("account"),
        "danger": True,
    }
    return render(request, "confirm.html", context)


@router.post("/account/tokens/{token_id}/revoke", name="token_revoke")
def token_revoke(
    request: Request, user: CurrentUser, session: SessionDep, token_id: int
) -> Response:
    token = revoke_token(session, user, _own_token(session, user, token_id).id)
    flash(request, _("Token “%(name)s” revoked.", name=token.name))
    return see_other(request, "account")
