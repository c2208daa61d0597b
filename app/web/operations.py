"""For the people and machines that run the server: liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import metrics, schema
from app.db import Database
from app.dependencies import MediaStoreDep, SettingsDep
from app.domain.imports.store import MediaStore
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
    summary="Readiness: the database answers and is migrated, the media store answers",
    responses={503: {"description": "Not ready, with the reason"}},
)
async def readyz(request: Request, store: MediaStoreDep) -> Response:
    """200 when the database answers and is at the newest revision and the media store
    can be used (S3: a HEAD of the bucket; the local folder: it is there and writable);
    else 503 and why."""
    database: Database = request.app.state.database
    reason = await run_in_threadpool(_not_ready, database, store)
    if reason is not None:
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


def _not_ready(database: Database, store: MediaStore) -> str | None:
    return schema.not_ready(database) or store.not_ready()


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
