"""Every annotation of a run as CSV, JSON Lines or JSON, streamed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import StreamingResponse

from app.api.deps import ApiProject, RunName
from app.api.responses import FOR_LEADS, RUN_ERRORS
from app.dependencies import DatabaseDep, SessionDep
from app.domain.analysis import annotation_export
from app.domain.analysis.annotation_export import request_export
from app.downloads import attachment_headers, export_filename
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["annotations"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
}

ROW_EXAMPLE: dict[str, Any] = {
    "sample_id": "img_0042",
    "label": "cat",
    "prediction": "dog",
    "confidence": 0.81,
    "annotator": "ada",
    "kind": "review",
    "status": "done",
    "label_error": False,
    "suggested_label": None,
    "note": "motion blur",
    "version": 2,
    "updated_at": "2026-11-29T10:12:31.482913Z",
    "causes": ["blurry"],
    "cause:blurry": 1,
    "cause:dark": 0,
}
CSV_EXAMPLE = (
    "sample_id,label,prediction,confidence,annotator,kind,status,label_error,"
    "suggested_label,note,version,updated_at,causes,cause:blurry,cause:dark\n"
    "img_0042,cat,dog,0.81,ada,review,done,0,,motion blur,2,"
    '2026-11-29T10:12:31.482913Z,"[""blurry""]",1,0\n'
)

DESCRIPTION = (
    "`run` is a run's name or `latest`. One row per (error under review, annotator), "
    "adjudications included (kind `adjudication`), every status; with `consensus=true`, "
    "one row per error under review with the spreadsheet's consensus instead (fields "
    "sample_id, label, prediction, confidence, status, examined, disagreement, "
    "annotators, label_error, suggested_label, note, causes). Each cause of the project "
    "has a 0/1 column `cause:<name>` (the spreadsheet's columns: archived causes only "
    "while this run uses them); `causes` lists the names. Times are ISO 8601 in UTC. "
    "Rows come in review order, each error's annotations in the order they were made. "
    "The body streams in constant memory whatever the run's size. Leads and admins get "
    "everyone's annotations; an annotator gets their own only, and `consensus=true` "
    "(built from everyone's marks and notes) is for leads."
)
CSV_NOTES = (
    " CSV: UTF-8 with a header, readable by `pandas.read_csv(url)` without options; "
    "booleans are 0/1, empty cells are nulls, and `causes` (and `annotators`) is a JSON "
    'list such as `["blurry", "dark"]` (`df.causes.map(json.loads)`).'
)


def _export(
    fmt: str,
    run: str,
    access: ApiProject,
    session: SessionDep,
    database: DatabaseDep,
    consensus: bool,
) -> StreamingResponse:
    # Access and the run are checked here, in the request's transaction, so refusals are
    # ordinary JSON errors; the rows are read later, by the stream's own session.
    export = request_export(session, access, run, consensus=consensus)
    name = export_filename(export.project_id, export.run_name, f"{export.kind}.{fmt}")
    return StreamingResponse(
        annotation_export.stream(database.reader, export, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers=attachment_headers(name),
    )


# An annotator's export is their own annotations; the consensus is built from everyone's.
CONSENSUS_FOR_LEADS = {
    **FOR_LEADS,
    "description": "consensus=true by an annotator of the project: the consensus is for leads",
}

ConsensusParam = Annotated[
    bool, Query(description="One row per error with the consensus, instead of per annotator")
]


@router.get(
    "/projects/{project_id}/runs/{run}/annotations.csv",
    name="api_annotations_csv",
    summary="Every annotation of the run as CSV, for pandas.read_csv",
    description=DESCRIPTION + CSV_NOTES,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}},
        **RUN_ERRORS,
        403: CONSENSUS_FOR_LEADS,
    },
)
def annotations_csv(
    run: RunName,
    access: ApiProject,
    session: SessionDep,
    database: DatabaseDep,
    consensus: ConsensusParam = False,
) -> StreamingResponse:
    return _export("csv", run, access, session, database, consensus)


@router.get(
    "/projects/{project_id}/runs/{run}/annotations.jsonl",
    name="api_annotations_jsonl",
    summary="Every annotation of the run as JSON Lines (one object per line)",
    description=DESCRIPTION + " `pandas.read_json(url, lines=True)` reads it.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {"example": ROW_EXAMPLE}}},
        **RUN_ERRORS,
        403: CONSENSUS_FOR_LEADS,
    },
)
def annotations_jsonl(
    run: RunName,
    access: ApiProject,
    session: SessionDep,
    database: DatabaseDep,
    consensus: ConsensusParam = False,
) -> StreamingResponse:
    return _export("jsonl", run, access, session, database, consensus)


@router.get(
    "/projects/{project_id}/runs/{run}/annotations.json",
    name="api_annotations_json",
    summary="Every annotation of the run as one JSON array",
    description=DESCRIPTION + " The array is streamed element by element.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/json": {"example": [ROW_EXAMPLE]}}},
        **RUN_ERRORS,
        403: CONSENSUS_FOR_LEADS,
    },
)
def annotations_json(
    run: RunName,
    access: ApiProject,
    session: SessionDep,
    database: DatabaseDep,
    consensus: ConsensusParam = False,
) -> StreamingResponse:
    return _export("json", run, access, session, database, consensus)
