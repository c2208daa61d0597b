"""A project's causes: the columns of the sheet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["causes"])
