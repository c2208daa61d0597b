"""Tests of the REST API under /api/v1."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings
from app.main import create_app

API = "/api/v1"


def published_openapi() -> dict[str, Any]:
    """/openapi.json as the app publishes it (building it reads no table)."""
    folder = Path(tempfile.mkdtemp(prefix="eyeball-openapi-"))
    try:
        app = create_app(Settings(data_dir=folder, secret_key="test-secret-" + "x" * 32))
        return app.openapi()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
