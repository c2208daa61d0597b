"""Push a run's predictions from memory (a DataFrame) instead of a manifest file."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["import"])
