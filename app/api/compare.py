"""Did our fix work? Per-cause shares of two runs side by side."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tally"])
