"""POST a manifest (and a zip of images) to import a run: the same import as the page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.responses import JSONResponse, Response

from app.api.deps import ApiOpenLeadAccess
from app.api.responses import LEADS_ONLY, PROJECT_ERRORS
from app.dependencies import DatabaseDep, SettingsDep, own_transactions
from app.domain.imports.manifests import Limits, ZipMedia
from app.domain.imports.pipeline import ImportOptions, ImportRefused, Upload, run_import
from app.errors import status_of
from app.models import SampleKind
from app.schemas.imports import ImportSummaryOut, RefusedImportOut

router = APIRouter(tags=["import"])


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
    responses={
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        422: {"model": RefusedImportOut, "description": "Nothing was imported; every problem"},
    },
)
@own_transactions
def import_run(
    access: ApiOpenLeadAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    manifest: Annotated[UploadFile, File(description="CSV or JSONL manifest")],
    images: Annotated[
        UploadFile | None, File(description="Zip of the images (image projects)")
    ] = None,
    run: Annotated[str, Form(description="Run name; default: the manifest's file name")] = "",
    evaluated: Annotated[
        int | None, Form(description="Samples evaluated, when only errors are listed")
    ] = None,
    sample_errors: Annotated[
        int | None, Form(description="Review a random sample of this many errors")
    ] = None,
    seed: Annotated[int | None, Form(description="Seed of that sample")] = None,
) -> Response | ImportSummaryOut:
    name = manifest.filename or "manifest"
    options = ImportOptions(
        run=run.strip() or Path(name).stem,
        evaluated=evaluated,
        sample_errors=sample_errors,
        seed=seed,
    )
    limits = Limits.from_settings(settings)
    wants_images = access.project.kind is SampleKind.IMAGE and images is not None
    media = ZipMedia(images.file, limits) if images is not None and wants_images else None
    try:
        summary = run_import(
            database,
            access.project.id,
            Upload(manifest.file, name, media),
            options,
            settings.media_path,
            limits=limits,
        )
    except ImportRefused as exc:
        body = RefusedImportOut(detail=exc.message, problems=[p.as_dict() for p in exc.problems])
        return JSONResponse(body.model_dump(), status_code=status_of(exc))
    finally:
        if media is not None:
            media.close()
    return ImportSummaryOut(**summary.as_dict())
