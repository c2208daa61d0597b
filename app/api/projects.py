"""Projects, their teams and (for admins) users, for notebooks that set up their own work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["projects"])
