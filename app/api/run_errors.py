"""A run's errors with their consensus, and one annotator's annotation of one of them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["annotations"])
