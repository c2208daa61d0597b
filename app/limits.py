"""Limits before work: every request body is counted as it arrives, against the limit of
its route's class, and a body that only a signed-in lead may send is not read at all
from someone who sent no credentials.

Pure ASGI, so nothing reads, buffers or spools more than the limit: a declared length
over it is refused before a byte is read, and a streamed body the moment it passes it
(413).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import i18n
from app.config import Settings
from app.errors import API_PREFIX, error_response
from app.i18n import gettext as _

F = TypeVar("F", bound=Callable[..., Any])
_BODY_CLASS = "eyeball_body_class"
SESSION_COOKIE = "eyeball_session"


@dataclass(frozen=True)
class BodyClass:
    """How much a route may be sent, what the refusal says, and whether the sender must
    carry credentials before anything is read."""

    limit: Callable[[Settings], int]
    too_large: Callable[[int], str]
    signed_in_only: bool = False


# Every route not marked otherwise: forms, JSON saves, sign-in.
FORMS = BodyClass(
    limit=lambda settings: settings.max_body_bytes,
    too_large=lambda limit: _(
        "The request is over %(limit)s bytes, the most this address takes.",
        limit=i18n.format_number(limit),
    ),
)
UPLOADS = BodyClass(
    limit=lambda settings: settings.max_upload_bytes,
    too_large=lambda limit: _(
        "The upload is over %(limit)s bytes: import the run in several "
        "parts (each adds to the same run).",
        limit=i18n.format_number(limit),
    ),
    signed_in_only=True,
)


def takes_body(body_class: BodyClass) -> Callable[[F], F]:
    """Marks a route whose body belongs to another class than FORMS."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _BODY_CLASS, body_class)
        return endpoint

    return mark


class SignInFirst(HTTPException):
    """Raised from the first `receive` of a route that only signed-in callers may send a
    body to, when the request carries no credentials at all: nothing of it is read."""

    def __init__(self, scope: Scope) -> None:
        api = scope["path"].startswith(API_PREFIX)
        super().__init__(
            401,
            "Send an API token as 'Authorization: Bearer <token>' (create one on My account)."
            if api
            else _("Sign in first."),
            headers={"WWW-Authenticate": "Bearer"} if api else None,
        )


class BodyTooLarge(HTTPException):
    """Raised from `receive` the moment a body passes its limit. An HTTPException, so
    whoever is reading (FastAPI, a form parser) lets it through to the 413 handler."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


def _body_class(endpoint: object) -> BodyClass:
    found = getattr(endpoint, _BODY_CLASS, None)
    return found if isinstance(found, BodyClass) else FORMS


def _carries_credentials(scope: Scope) -> bool:
    """Credentials of the kind the route reads: a bearer token for the API (which ignores
    cookies on writes), the session cookie for pages. Whether they are valid is the
    route's own check, made before it reads the body (see the import routes)."""
    request = Request(scope)
    if request.url.path.startswith(API_PREFIX):
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip())
    return SESSION_COOKIE in request.cookies


def _declared_length(headers: Headers) -> int | None:
    declared = headers.get("content-length")
    if declared is None:
        return None
    declared = declared.strip()
    # The server has checked it is a number; ASCII only, so `int` cannot be surprised.
    return int(declared) if declared.isascii() and declared.isdigit() else None


_STATE = "eyeball.body_limit"


class _Counted:
    """One request's count and the limit it is held to, shared (through the scope) by
    the two halves below: the limit is the small FORMS one until the route is known."""

    def __init__(self, settings: Settings, declared: int | None) -> None:
        self.settings = settings
        self.declared = declared
        self.body_class: BodyClass | None = None
        self.limit = FORMS.limit(settings)
        self.received = 0

    def too_large(self) -> BodyTooLarge:
        return BodyTooLarge((self.body_class or FORMS).too_large(self.limit))

    def route_known(self, scope: Scope) -> None:
        self.body_class = _body_class(scope["endpoint"])
        self.limit = self.body_class.limit(self.settings)
        if self.body_class.signed_in_only and not _carries_credentials(scope):
            raise SignInFirst(scope)


class BodyLimitMiddleware:
    """Counts every body as it arrives. Outside every middleware that reads a body (the
    CSRF check reads form bodies before routing, and is held to the FORMS limit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        if not declared and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing to count
            return
        settings: Settings = scope["app"].state.settings
        request = Request(scope)
        if declared is not None and declared > max(
            settings.max_upload_bytes, FORMS.limit(settings)
        ):
            # Over every class's limit: refused before the route is even looked for.
            too_large = UPLOADS.too_large(settings.max_upload_bytes)
            await error_response(request, 413, too_large)(scope, receive, send)
            return
        state = scope[_STATE] = _Counted(settings, declared)

        async def counted() -> Message:
            if state.declared is not None and state.declared > state.limit:
                raise state.too_large()  # before a byte is read
            message = await receive()
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if state.received > state.limit:
                    raise state.too_large()
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:
            # Raised where no handler of the app catches it (in the CSRF check):
            # answered here, unless an answer has begun.
            if started:
                raise
            await error_response(request, 413, exc.detail)(scope, receive, send)


class RouteBodyLimit:
    """The inner half, next to the router: the scope it sees is the one the router fills
    in (middleware such as the CSRF check pass on a copy), so at a route's first read
    `scope["endpoint"]` names the route, and its class sets the limit before that read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get(_STATE)
        if scope["type"] != "http" or not isinstance(state, _Counted):
            await self.app(scope, receive, send)
            return

        async def classed() -> Message:
            if state.body_class is None and "endpoint" in scope:
                state.route_known(scope)
            return await receive()

        await self.app(scope, classed, send)


# The import form's own fields (run, counts, seed, the CSRF token) with room to spare.
UPLOAD_FIELDS = 16


def upload_form(request: Request, settings: Settings) -> Any:
    """The import's multipart form, read with counts: a folder's files are the zip's
    entries (plus the manifest and a zip), a field is at most a request's size. Call it
    from a dependency that first checks who is sending (see `app.web.imports`), so nothing
    of a stranger's body is read or spooled."""
    return request.form(
        max_files=settings.max_zip_entries + 2,
        max_fields=UPLOAD_FIELDS,
        max_part_size=settings.max_body_bytes,
    )
