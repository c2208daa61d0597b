"""For the people and machines that run the server: liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import metrics, schema
from app.db import Database
from app.dependencies import SettingsDep
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["health"])
METRICS_PATH = "/metrics"


@router.get("/healthz", name="healthz", summary="Liveness: the process is up")
def healthz() -> Response:
    """200 whenever the process answers; touches nothing else, the database included, so
    a database outage does not get healthy workers restarted (that is /readyz's part)."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    name="readyz",
    summary="Readiness: the database answers and is migrated",
    responses={503: {"description": "Not ready, with the reason"}},
)
async def readyz(request: Request) -> Response:
    """200 when the database answers and is at the newest revision; else 503 and why."""
    database: Database = request.app.state.database
    reason = await run_in_threadpool(schema.not_ready, database)
    if reason is not None:
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get(METRICS_PATH, name="metrics", include_in_schema=False)
def metrics_page(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics, for this machine or the holder of EYEBALL_METRICS_TOKEN."""
    client = request.client.host if request.client else None
    if not metrics.may_read(client, request.headers.get("authorization"), settings.metrics_token):
        return PlainTextResponse(
            "Metrics are served to this machine only, or with the token set in "
            "EYEBALL_METRICS_TOKEN (Authorization: Bearer ...).",
            status_code=403,
        )
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
