"""A project's runs: list them, or register one before its predictions arrive."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["runs"])
