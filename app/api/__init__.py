"""/api/v1: JSON for notebooks. Shares the domain with the web pages, never their routes."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    auth,
    bias_variance,
    causes,
    compare,
    exports,
    health,
    imports,
    label_audit,
    label_suspects,
    me,
    media,
    pipeline,
    predictions,
    projects,
    run_errors,
    runs,
    tally,
)
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, prefix="/api/v1")
for module in (
    auth,
    me,
    projects,
    causes,
    runs,
    imports,
    predictions,
    run_errors,
    exports,
    tally,
    compare,
    health,
    bias_variance,
    label_suspects,
    label_audit,
    pipeline,
    media,
):
    router.include_router(module.router)
