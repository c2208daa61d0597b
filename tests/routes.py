"""Paths by route name, the way tests reach pages and endpoints (never hard-coded)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from starlette.applications import Starlette


def url(client: TestClient, name: str, /, **params: Any) -> str:
    """The path of route `name`; parameters go in raw, as Starlette inserts them."""
    app = client.app
    # TestClient types its app as any ASGI callable; ours is always the Eyeball app.
    assert isinstance(app, Starlette)
    return str(app.url_path_for(name, **params))


def named_paths(client: TestClient) -> list[tuple[str, str]]:
    """(name, path template) of every route of the app, pages and API alike, for tests
    that hold every route of a kind to one rule (a route added later included)."""
    return [(name, path) for name, path, _ in named_routes(client)]


def named_routes(client: TestClient) -> list[tuple[str, str, frozenset[str]]]:
    """(name, path template, HTTP methods) of every route of the app."""
    app = client.app
    assert isinstance(app, Starlette)
    found: list[tuple[str, str, frozenset[str]]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            # FastAPI keeps an included router whole (its routes and its prefix).
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)
            elif isinstance(getattr(route, "path", None), str) and hasattr(route, "name"):
                methods = frozenset(getattr(route, "methods", None) or ())
                found.append((route.name, prefix + route.path, methods))

    walk(app.routes, "")
    return found
