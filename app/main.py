"""create_app(): routers, static files, middleware and error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import api, csrf_multipart, i18n, metrics
from app.config import Settings, get_settings
from app.db import Database
from app.domain.imports.media import stop_workers
from app.domain.imports.store import media_store, thumbnail_key
from app.domain.live import set_local_sink
from app.errors import API_PREFIX, install_error_handlers
from app.i18n import LanguageMiddleware
from app.limits import SESSION_COOKIE, BodyLimitMiddleware, RouteBodyLimit
from app.live import Hub, listen_postgres
from app.request_log import RequestLogMiddleware, RouteTemplateMiddleware
from app.routing import CheckedRoute
from app.templating import STATIC_DIR, environment, templates
from app.web import (
    account,
    admin,
    auth,
    causes,
    compare,
    imports,
    label_audit,
    label_suspects,
    live,
    media,
    operations,
    project_settings,
    projects,
    review,
    runs,
    sheet,
    slices,
    team,
)

SWAGGER_UI_VERSION = "5.35.0"


def content_security_policy(image_origin: str | None = None) -> str:
    """Only our own files: htmx and our keyboard layer come from /static, never inline.
    `image_origin`: the media store's, when images are redirected to its signed URLs."""
    images = " ".join(["img-src 'self' data: blob:", *([image_origin] if image_origin else [])])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            images,
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(image_origin: str | None = None) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(image_origin).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


SECURITY_HEADERS = security_headers()
# Behind HTTPS only (EYEBALL_HTTPS): browsers then refuse plain HTTP to the site for a
# year, so a network attacker cannot downgrade a later visit. Sent over plain HTTP it
# would be ignored by browsers, and wrong.
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def _signed_image_origin(settings: Settings) -> str | None:
    """Where the browser fetches images when they are redirected to signed URLs."""
    if not settings.media_signed_urls:
        return None
    signed = media_store(settings).signed_url(thumbnail_key("0" * 64), "image/png", 60)
    if signed is None:
        return None
    parts = urlsplit(signed)
    return f"{parts.scheme}://{parts.netloc}"


class SecurityHeadersMiddleware:
    """Pure ASGI, so streamed responses (exports, server-sent events) pass untouched."""

    def __init__(
        self,
        app: ASGIApp,
        headers: list[tuple[bytes, bytes]] = SECURITY_HEADERS,
        *,
        https: bool = False,
    ) -> None:
        self.app = app
        self.headers = [*headers, HSTS_HEADER] if https else headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _PagePaths:
    """Every path but the API's, for asgi-csrf's `always_protect`.

    asgi-csrf lets a request without cookies through unchecked: with no session there
    seems nothing to forge. But a sign-in form posted from another site to a browser
    with no cookie of ours would sign the victim into the attacker's account (login
    CSRF), so page routes are checked with or without cookies. The sign-in page sets
    the token's cookie, so a real visitor always has one.
    """

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and not path.startswith(API_PREFIX)


class CSRFMiddleware:
    """Datasette's asgi-csrf (double-submit cookie), skipped for the bearer-token API."""

    def __init__(self, app: ASGIApp, *, secret: str, secure: bool) -> None:
        csrf_multipart.install()
        self.app = asgi_csrf(
            app,
            signing_secret=secret,
            cookie_secure=secure,
            always_protect=_PagePaths(),
            # The API authenticates by bearer token only and ignores cookies,
            # so a forged cross-site request carries no credentials there.
            skip_if_scope=lambda scope: scope["path"].startswith(API_PREFIX),
            send_csrf_failed=_send_csrf_failed,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith(API_PREFIX)
            and scope["path"] != operations.METRICS_PATH
        ):
            # asgi-csrf skips its check whenever an `Authorization: Bearer` header is
            # sent; pages authenticate by cookie alone and never read the header, so a
            # forged form could otherwise act with the victim's cookie by adding one.
            # (/metrics reads its own token, takes no cookie and has no form to forge.)
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


async def _send_csrf_failed(scope: Scope, send: Send, message_id: Any) -> None:
    # In the reader's language: the language middleware runs outside this one.
    body = environment.get_template("csrf_failed.html").render(html_lang=i18n.html_lang())
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/html; charset=utf-8"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def _in_thread(work: Callable[[], None]) -> None:
    # Daemon: a server stopping mid-import rolls the transaction back (all or nothing)
    # and the page reports the import as stopped.
    threading.Thread(target=work, name="eyeball-import", daemon=True).start()


_frozen = False


def _freeze_the_process_objects() -> None:
    """Keep what lives as long as the process out of the cycle collector's walks.

    The modules, routes, templates and mappers (some 200,000 objects) are never
    garbage, yet each full collection walked them: during a 10,000-image import such
    collections took 115-125 ms, a pause of every request thread at once (four
    annotators' saves over 100 ms); with them frozen, 20-30 ms. Once per process, at
    the first start-up: a process serves one app (a test run makes many, and freezing
    each one's would keep them all).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_dirs()
    owns_database = database is None
    db = database or Database.from_url(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )

    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.bind_loop(asyncio.get_running_loop())
        listener: asyncio.Task[None] | None = None
        if db.is_sqlite:
            set_local_sink(hub.publish)
        else:
            ready = asyncio.Event()
            url = db.engine.url.render_as_string(hide_password=False)
            listener = asyncio.create_task(listen_postgres(url, hub, ready))
            try:
                await asyncio.wait_for(ready.wait(), timeout=10)
            except TimeoutError:
                logging.getLogger("eyeball.live").warning("live updates are not listening yet")
        _freeze_the_process_objects()
        yield
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        else:
            set_local_sink(None)
        await asyncio.to_thread(stop_workers)
        metrics.process_stopped()
        if owns_database:
            db.dispose()

    app = FastAPI(
        title="Eyeball",
        summary="Error analysis for machine-learning models.",
        version="1",
        lifespan=lifespan,
        # Our own /docs page: FastAPI's loads Swagger UI from a CDN with an inline
        # script, which the offline rule and the Content-Security-Policy both forbid.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    # Routes declared on the app itself (below) meet the input rule like every router's.
    app.router.route_class = CheckedRoute
    app.state.settings = settings
    app.state.database = db
    app.state.hub = hub
    # Long imports run beside the request that started them (tests run them inline).
    app.state.run_in_background = _in_thread

    install_error_handlers(app)
    app.include_router(auth.router)
    # Before `projects`: /projects/new must not be read as a project id.
    app.include_router(project_settings.router)
    app.include_router(projects.router)
    app.include_router(team.router)
    app.include_router(causes.router)
    app.include_router(runs.router)
    app.include_router(compare.router)
    app.include_router(label_suspects.router)
    app.include_router(label_audit.router)
    app.include_router(slices.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(imports.router)
    app.include_router(live.router)
    # Before `review`: its /errors/{external_id:path} would otherwise swallow
    # the sheet's /errors/{prediction_id}/adjudication.
    app.include_router(sheet.router)
    app.include_router(media.router)
    app.include_router(review.router)
    app.include_router(api.router)
    app.include_router(operations.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", name="api_docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        context = {"swagger_version": SWAGGER_UI_VERSION, "openapi_url": app.openapi_url}
        return templates.TemplateResponse(request, "api_docs.html", context)

    secret = settings.resolved_secret_key()
    # Innermost: sees the scope the router fills in (see `RouteBodyLimit`).
    app.add_middleware(RouteBodyLimit)
    # The request log's inner half, for the same reason (see `RequestLogMiddleware`).
    app.add_middleware(RouteTemplateMiddleware, routes=app.router.routes)
    # Added last = outermost: CSRF checks run before the session is even decoded.
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.https,
    )
    app.add_middleware(CSRFMiddleware, secret=secret, secure=settings.https)
    # Outside the CSRF check, which reads form bodies: nothing reads past a limit.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware,
        headers=security_headers(_signed_image_origin(settings)),
        https=settings.https,
    )
    # Outside everything that answers with a page (the CSRF refusal too): the language
    # of the browser and the site; the signed-in user's own choice overrides it.
    app.add_middleware(LanguageMiddleware, default_language=settings.default_language)
    # Outermost: times and logs every request, those refused by the middleware above too.
    app.add_middleware(RequestLogMiddleware)
    logging.getLogger("eyeball").setLevel(logging.INFO)
    return app
