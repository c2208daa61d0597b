"""One JSON line per request, and the request metrics, from the outermost middleware.

The line holds the method, the route template (`/projects/{project_id}/sheet`, never the
path as sent, whose parts may be names or tokens), the status, the duration in
milliseconds, the signed-in user's id and the worker's process id: never a header, a
cookie, a query string or a body, so a token or a password cannot reach the log.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics

log = logging.getLogger("eyeball.access")
# The label of a request that matched no route: paths as sent would make a label per typo.
UNMATCHED = "unmatched"
_FACTS = "eyeball.request_log"


@dataclass
class _Facts:
    """What the inner half learns about a request for the outer half to log."""

    route: str = UNMATCHED


def full_templates(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """Each route's template with the prefixes of the routers that include it, by the
    route's identity: the router hands on the route object, whose own path lacks them."""
    templates: dict[int, str] = {}
    for context in iter_route_contexts(routes):
        if context.path is not None and not isinstance(context.original_route, Mount):
            templates[id(context.original_route)] = compile_path(context.path)[1]
    return templates


def _user_id(scope: Scope) -> int | None:
    user_id = scope["state"].get("user_id")
    return user_id if isinstance(user_id, int) else None


class RequestLogMiddleware:
    """The outer half, outermost: what inner middleware refuses (CSRF, body limits) is
    timed and logged too. Inner middleware passes on copies of the scope, so the route
    the router picks comes back through `_Facts` (see `RouteTemplateMiddleware`), and the
    user through the request's state, a dict every copy shares (`request.state.user_id`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        facts = scope[_FACTS] = _Facts()
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._record(scope, facts.route, status, time.perf_counter() - started)

    def _record(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        method = str(scope["method"])
        metrics.REQUESTS.labels(method, route, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(method, route).observe(seconds)
        line: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": _user_id(scope),
            # Which worker answered: with several, the one to look at.
            "pid": os.getpid(),
        }
        log.info(json.dumps(line, separators=(",", ":")))


class RouteTemplateMiddleware:
    """The inner half, next to the router: the scope it passes on is the one the router
    writes the chosen route into (a route refusing the method, 405, counts too)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self._templates: dict[int, str] | None = None

    def _template(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is None:
            return None
        if self._templates is None:  # the routes are all in place once requests come
            self._templates = full_templates(self.routes)
        template = self._templates.get(id(route), getattr(route, "path_format", None))
        return template if isinstance(template, str) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        facts = scope.get(_FACTS)
        if scope["type"] != "http" or not isinstance(facts, _Facts):
            await self.app(scope, receive, send)
            return

        def note() -> None:
            template = self._template(scope)
            if template is not None:
                facts.route = template

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                note()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            note()
