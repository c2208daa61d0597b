"""Every annotation of a run as CSV, JSON Lines or JSON, streamed."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["annotations"])
