"""Push a run's predictions from memory (a DataFrame) instead of a manifest file."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from app.api.deps import ApiOpenLeadAccess, RunName
from app.api.responses import LEADS_ONLY, STORE_UNAVAILABLE, UNAUTHORIZED, problem
from app.dependencies import DatabaseDep, SessionDep, SettingsDep, own_transactions
from app.domain.imports.manifests import Limits
from app.domain.imports.pipeline import ImportOptions, ImportRefused
from app.domain.imports.pushes import MAX_BODY_BYTES, body_limit, push_predictions, run_to_push
from app.domain.imports.store import media_store
from app.errors import status_of
from app.limits import BodyClass, takes_body
from app.routing import CheckedRoute
from app.schemas.imports import ImportSummaryOut, RefusedImportOut
from app.schemas.predictions import PredictionsIn


def _too_large(limit: int) -> str:
    return (
        f"The request is over {limit:,} bytes: push the samples in batches "
        "(each batch adds to the same run)."
    )


# Held in memory while it is checked, so below the images-zip limit (see `body_limit`).
PUSHES = BodyClass(
    limit=lambda settings: body_limit(settings.max_zip_bytes),
    too_large=_too_large,
    signed_in_only=True,
)


router = APIRouter(route_class=CheckedRoute, tags=["import"])


@router.post(
    "/projects/{project_id}/runs/{run}/predictions",
    name="api_push_predictions",
    response_model=ImportSummaryOut,
    summary="Push a run's predictions from memory (all or nothing)",
    description=(
        "For notebooks that hold the predictions in a DataFrame: the same import as "
        "`POST /projects/{project_id}/import`, with the samples as JSON. `run` is the run's "
        "name (created when new) or `latest` (the newest run). Only the project's leads "
        "can push.\n\n"
        "Every sample is checked like a manifest line, and nothing is imported unless all "
        "are right: the 422 lists every problem, numbered by the sample's position in "
        "`samples`, counted from 1 (`line`). Image projects send each image file in base64 "
        "(`image_base64`); text projects send `text`, record projects `record`. Fields not "
        "named in the schema are kept as metadata, so `df.to_dict('records')` can be sent "
        "as it is.\n\n"
        "Safe to repeat: samples and predictions already stored are left alone, so the "
        "same push twice creates nothing the second time (200); a push that creates "
        "anything answers 201. A large set is pushed in batches into the same run: a "
        "request holds at most `EYEBALL_MAX_ZIP_ENTRIES` samples and at most "
        "`EYEBALL_MAX_ZIP_BYTES` bytes, and never more than 256 MiB."
    ),
    responses={
        201: {
            "model": ImportSummaryOut,
            "description": "Samples or predictions were created; what the push did",
        },
        200: {"description": "Nothing new: everything pushed was stored already"},
        401: UNAUTHORIZED,
        403: LEADS_ONLY,
        404: problem(
            "No such project (or not yours), or `latest` with no run yet",
            "The project has no runs yet: name the new run instead.",
        ),
        413: problem(
            "The request body is over the limit: push in batches",
            _too_large(MAX_BODY_BYTES),
        ),
        422: {"model": RefusedImportOut, "description": "Nothing was imported; every problem"},
        503: STORE_UNAVAILABLE,
    },
)
@own_transactions
@takes_body(PUSHES)
def push_run_predictions(
    run: RunName,
    body: PredictionsIn,
    access: ApiOpenLeadAccess,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    response: Response,
) -> Response | ImportSummaryOut:
    options = ImportOptions(
        run=run_to_push(session, access.project, run),
        evaluated=body.evaluated,
        sample_errors=body.sample_errors,
        seed=body.seed,
    )
    try:
        summary = push_predictions(
            database,
            access.project.id,
            [sample.fields() for sample in body.samples],
            options,
            media_store(settings),
            limits=Limits.from_settings(settings),
        )
    except ImportRefused as exc:
        refused = RefusedImportOut(detail=exc.message, problems=[p.as_dict() for p in exc.problems])
        return JSONResponse(refused.model_dump(), status_code=status_of(exc))
    if summary.samples_created or summary.predictions_created:
        response.status_code = 201
    return ImportSummaryOut(**summary.as_dict())
