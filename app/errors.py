"""Turn failures into pages for people and JSON for programs; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.domain import integrity
from app.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unavailable,
)
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.templating import is_htmx, render

log = logging.getLogger("eyeball")

API_PREFIX = "/api/"

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    InvalidInput: 422,
    TooManyRequests: 429,
    Unavailable: 503,
}


def status_of(exc: DomainError) -> int:
    """The status of a refusal, whether it becomes an error page, a form shown again with
    the reason, a fragment or JSON: the same refusal never answers two ways."""
    return next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)


# Translated each time a page shows one (the API's answers carry no title).
TITLES = {
    400: lazy_gettext("Bad request"),
    401: lazy_gettext("Sign-in required"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Not found"),
    405: lazy_gettext("Not allowed here"),
    409: lazy_gettext("Conflict"),
    413: lazy_gettext("Too large"),
    422: lazy_gettext("Please check your input"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong"),
    503: lazy_gettext("Unavailable for now"),
}


class SignInRequired(Exception):
    """The request needs a signed-in user and has none."""


class PasswordChangeRequired(Exception):
    """The user signed in with a one-time password and must choose their own first."""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def title_of(status: int) -> str:
    """The heading of an error page, in the reader's language."""
    title = TITLES.get(status)
    return str(title) if title is not None else _("Error")


def error_response(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    context = {"status": status, "title": title_of(status), "message": message}
    return render(request, "error.html", context, fragment="error", status_code=status)


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{request.app.url_path_for('sign_in')}?{urlencode({'next': target})}"


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        detail = (
            str(exc)
            if str(exc)
            else "Send an API token as 'Authorization: Bearer <token>' (create one on My account)."
        )
        return JSONResponse(
            {"detail": detail},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    url = sign_in_url(request)
    if is_htmx(request):
        # A fragment swap cannot follow a redirect to a whole page; htmx can.
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _password_change_required(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"detail": "Choose a new password on My account before using Eyeball."},
            status_code=403,
        )
    url = request.app.url_path_for("account")
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    response = error_response(request, status_of(exc), exc.message)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unavailable):
        # One line: the cause is known and named; a stack trace would only bury it.
        log.warning("unavailable on %s %s: %s", request.method, request.url.path, exc.reason)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else title_of(exc.status_code)
    status = exc.status_code
    if status == 404 and message == "Not Found":
        message = _("There is nothing at this address.")
    if status == 400 and _wants_json(request):
        # A body the framework cannot parse (not UTF-8, broken multipart) is, like any other
        # body that is not what the endpoint documents, a 422, said plainly.
        status = 422
        message = (
            "The request body cannot be read: it is not UTF-8, or not in the format asked."
            if message == UNREADABLE_BODY
            else f"The request body cannot be read: {message}"
        )
    response = error_response(request, status, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def describe_validation_errors(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in {"body", "query", "path"})
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or _("The request is not valid.")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, describe_validation_errors(exc))


# What FastAPI says when a body cannot be decoded at all (not UTF-8, say).
UNREADABLE_BODY = "There was an error parsing the body"
VALIDATION_ERROR_SCHEMA = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
    "example": {"detail": "evaluated: Input should be a valid integer"},
}


def _document_error_bodies(app: FastAPI) -> None:
    """/openapi.json shows the 422 body the handler above sends: one readable `detail`,
    not FastAPI's list of error objects."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = build().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
                schemas.pop("ValidationError", None)
        return build()

    app.openapi = openapi  # type: ignore[method-assign]


async def _integrity_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IntegrityError)
    log.warning("refused by the database: %s", exc.orig)
    return error_response(request, 409, integrity.describe(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, 500, _("Eyeball hit an unexpected error. Nothing you saved before was lost.")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(PasswordChangeRequired, _password_change_required)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_error_bodies(app)
