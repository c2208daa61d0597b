"""The one Jinja2 environment, and how a route renders a page or one of its fragments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute, NoMatchFound

from app import i18n, resources
from app.domain.imports.progress import phase_label, timings

TEMPLATE_DIR = resources.TEMPLATES
STATIC_DIR = resources.STATIC
HTMX_VERSION = "2.0.11"
HTMX_SSE_VERSION = "2.2.4"
IDIOMORPH_VERSION = "0.8.0"


def is_htmx(request: Request) -> bool:
    # History restores ask for the whole page even though htmx sends them.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


FLASH_KEY = "flash"


def flash(request: Request, message: str) -> None:
    """A one-line note shown on the next page rendered (after a redirect: "Cause archived.")."""
    request.session.setdefault(FLASH_KEY, []).append(message)


def _take_flashes(request: Request) -> list[str]:
    session = request.scope.get("session")
    if not session or FLASH_KEY not in session:
        return []
    messages: list[str] = session.pop(FLASH_KEY)
    return messages


def _common_context(request: Request) -> dict[str, Any]:
    make_token = request.scope.get("csrftoken")
    return {
        "current_user": getattr(request.state, "user", None),
        "flashes": _take_flashes(request),
        # Calling it sets the CSRF cookie: only pages that hold a form pay for it.
        "csrf_token": make_token if make_token is not None else (lambda: ""),
        "htmx_version": HTMX_VERSION,
        "htmx_sse_version": HTMX_SSE_VERSION,
        "idiomorph_version": IDIOMORPH_VERSION,
        "language": i18n.current_language(),
        "html_lang": i18n.html_lang(),
    }


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# Newstyle: `_("%(n)s errors", n=3)` fills and escapes the placeholders itself, and a
# message's own `%` is written `%%`, in templates as in Python (app/i18n.py).
environment.install_gettext_callables(  # type: ignore[attr-defined]
    lambda message: i18n.translations(i18n.current_language()).gettext(message),
    lambda singular, plural, num: i18n.translations(i18n.current_language()).ngettext(
        singular, plural, num
    ),
    newstyle=True,
    pgettext=lambda context, message: i18n.translations(i18n.current_language()).pgettext(
        context, message
    ),
)
# `{% trans %}` blocks render (and are extracted, babel.cfg) with their whitespace folded.
environment.policies["ext.i18n.trimmed"] = True


def path_for(app: Starlette, name: str, /, **params: Any) -> str:
    """A route's path with its parameters percent-encoded.

    Starlette inserts parameters raw, so an external id such as `img?1#a` would cut
    the URL short; sample ids come from people's manifests and can hold anything.
    """
    quoted = {k: quote(v, safe="/") if isinstance(v, str) else v for k, v in params.items()}
    # Which of the app's routes (or included routers) holds the name is found once: the
    # router tries each in turn and each miss raises, which cost a sheet page a third of
    # its time (three links a row).
    found: dict[str, BaseRoute] | None = getattr(app.state, "route_of_name", None)
    if found is None:
        found = app.state.route_of_name = {}
    route = found.get(name)
    if route is not None:
        try:
            return str(route.url_path_for(name, **quoted))
        except NoMatchFound:
            pass
    for route in app.router.routes:
        try:
            path = route.url_path_for(name, **quoted)
        except NoMatchFound:
            continue
        found[name] = route
        return str(path)
    raise NoMatchFound(name, quoted)


@jinja2.pass_context
def _url_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
    # Paths, not absolute URLs: correct behind any proxy without forwarded headers.
    request: Request = context["request"]
    return path_for(request.app, name, **params)


def _datetime_element(value: datetime | None) -> Markup | str:
    # A <time> for machines; the stylesheet breaks it only at its spaces, never inside
    # "2026年12月2日" (Chinese text may otherwise break between any two characters).
    if value is None:
        return i18n.format_datetime(None)
    return Markup('<time datetime="%s">%s</time>') % (
        value.isoformat(),
        i18n.format_datetime(value),
    )


# Registered before Jinja2Blocks, which only adds its own absolute url_for if none is set.
environment.globals["url_for"] = _url_for
environment.filters["datetime"] = _datetime_element
environment.filters["percent"] = i18n.format_percent
environment.filters["number"] = i18n.format_number
environment.filters["import_phase"] = phase_label
environment.filters["import_timings"] = timings
environment.globals["javascript_messages"] = i18n.javascript_messages

templates = Jinja2Blocks(env=environment, context_processors=[_common_context])


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The whole page, or only the named block when htmx asks for it."""
    extra: dict[str, Any] = {}
    if fragment is not None and is_htmx(request):
        extra["block_name"] = fragment
    return templates.TemplateResponse(
        request,
        template,
        context or {},
        status_code=status_code,
        headers=headers,
        **extra,
    )
