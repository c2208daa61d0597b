"""/api/v1: JSON for notebooks. Shares the domain with the web pages, never their routes."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import auth, imports, me, tally

router = APIRouter(prefix="/api/v1")
router.include_router(auth.router)
router.include_router(me.router)
router.include_router(imports.router)
router.include_router(tally.router)
