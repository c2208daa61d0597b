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
