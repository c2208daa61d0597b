"""POST a manifest (and a zip of images) to import a run: the same import as the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import JSONResponse, Response

from app.api.deps import ApiOpenLeadAccess
from app.api.responses import LEADS_ONLY, PROJECT_ERRORS, STORE_UNAVAILABLE, problem
from app.dependencies import DatabaseDep, SettingsDep, own_transactions
from app.domain.errors import InvalidInput
from app.domain.imports.manifests import Limits, ZipMedia
from app.domain.imports.pipeline import ImportOptions, ImportRefused, Upload, run_import
from app.domain.imports.store import media_store
from app.domain.numbers import MAX_INT, whole_number
from app.errors import status_of
from app.limits import UPLOADS, takes_body, upload_form
from app.models import SampleKind
from app.routing import CheckedRoute
from app.schemas.imports import IMPORT_FORM, ImportSummaryOut, RefusedImportOut

router = APIRouter(route_class=CheckedRoute, tags=["import"])

NUMBER_FIELDS = ("evaluated", "sample_errors", "seed")


async def _upload(
    request: Request, access: ApiOpenLeadAccess, settings: SettingsDep
) -> AsyncIterator[FormData]:
    """The upload, read only once `access` found the token to be a lead's: FastAPI
    solves that first, and a route without File() parameters leaves the body unread
    until here (the body is documented by `IMPORT_FORM`)."""
    async with upload_form(request, settings) as form:
        yield form


def _whole_number(form: FormData, field: str) -> int | None:
    value = form.get(field)
    if not isinstance(value, str) or not value.strip():
        return None
    number = whole_number(value)
    if number is None:
        raise InvalidInput({field: f"{field}: give a whole number from 0 to {MAX_INT:,}."})
    return number


@router.post(
    "/projects/{project_id}/import",
    name="api_import",
    response_model=ImportSummaryOut,
    summary="Import a run's predictions (all or nothing)",
    description=(
        "The import of the project page, for scripts: a CSV or JSONL manifest and, for "
        "image projects, a zip of the images (see docs/import.md for the columns). Every "
        "line is checked before anything is written; the 422 lists every problem by "
        "manifest line. Safe to repeat: what is stored already is left alone. Only the "
        "project's leads can import; an archived project takes no import."
    ),
    openapi_extra={"requestBody": IMPORT_FORM},
    responses={
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        413: problem("The upload is over EYEBALL_MAX_UPLOAD_BYTES", UPLOADS.too_large(5 * 1024**3)),
        422: {"model": RefusedImportOut, "description": "Nothing was imported; every problem"},
        503: STORE_UNAVAILABLE,
    },
)
@own_transactions
@takes_body(UPLOADS)
def import_run(
    access: ApiOpenLeadAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    posted: Annotated[FormData, Depends(_upload)],
) -> Response | ImportSummaryOut:
    manifest = posted.get("manifest")
    images = posted.get("images")
    if not isinstance(manifest, UploadFile):
        raise InvalidInput({"manifest": "manifest: send the manifest as a file (CSV or JSONL)."})
    run = posted.get("run")
    name = manifest.filename or "manifest"
    options = ImportOptions(
        run=(run.strip() if isinstance(run, str) else "") or Path(name).stem,
        **{field: _whole_number(posted, field) for field in NUMBER_FIELDS},
    )
    limits = Limits.from_settings(settings)
    wants_images = access.project.kind is SampleKind.IMAGE and isinstance(images, UploadFile)
    media = (
        ZipMedia(images.file, limits) if isinstance(images, UploadFile) and wants_images else None
    )
    try:
        summary = run_import(
            database,
            access.project.id,
            Upload(manifest.file, name, media),
            options,
            media_store(settings),
            limits=limits,
        )
    except ImportRefused as exc:
        body = RefusedImportOut(detail=exc.message, problems=[p.as_dict() for p in exc.problems])
        return JSONResponse(body.model_dump(), status_code=status_of(exc))
    finally:
        if media is not None:
            media.close()
    return ImportSummaryOut(**summary.as_dict())
