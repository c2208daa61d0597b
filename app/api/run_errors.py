"""A run's errors with their consensus, and one annotator's annotation of one of them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response

from app.api.deps import ApiProject, RunName, SampleId, ViewParams
from app.api.responses import FILTERS_DOC, RUN_ERRORS, UNAUTHORIZED, problem
from app.dependencies import SessionDep
from app.domain.analysis.error_pages import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ErrorsPage,
    SampleContent,
    annotate_error,
    cause_names_of,
    errors_page,
)
from app.domain.analysis.sheet import ErrorRow
from app.domain.analysis.views import Filters
from app.domain.projects.access import ProjectArchived
from app.domain.review.annotations import AnnotationState, Draft, StaleAnnotation
from app.domain.verdicts import Mark
from app.errors import status_of
from app.models import AnnotationStatus
from app.routing import CheckedRoute
from app.schemas.run_errors import (
    AnnotationIn,
    AnnotationOut,
    AnnotationSavedOut,
    AnnotationStateOut,
    ErrorOut,
    ErrorsPageOut,
    StaleAnnotationOut,
)

router = APIRouter(route_class=CheckedRoute, tags=["annotations"])


def _mark_out(
    page: ErrorsPage, mark: Mark, kind: Literal["review", "adjudication"]
) -> AnnotationOut:
    return AnnotationOut(
        annotator=page.usernames.get(mark.annotator_id, mark.annotator),
        kind=kind,
        status=mark.status.value,
        causes=page.names(mark.causes),
        label_error=mark.label_error,
        suggested_label=mark.suggested_label,
        note=mark.note,
        version=mark.version,
        updated_at=mark.updated_at,
    )


def _error_out(request: Request, page: ErrorsPage, row: ErrorRow) -> ErrorOut:
    annotations = [_mark_out(page, m, "review") for m in row.marks]
    if row.adjudication is not None:
        annotations.append(_mark_out(page, row.adjudication, "adjudication"))
    content = page.content.get(row.prediction_id, SampleContent(None, None))
    sha = row.image_sha256
    return ErrorOut(
        sample_id=row.external_id,
        text=content.text,
        record=content.record,
        image_url=str(request.url_for("api_media_original", sha256=sha)) if sha else None,
        thumbnail_url=str(request.url_for("api_media_thumbnail", sha256=sha)) if sha else None,
        label=row.label,
        prediction=row.predicted,
        confidence=row.confidence,
        metadata=row.meta,
        status=row.status.value,
        examined=row.examined,
        causes=page.names(row.causes),
        label_error=row.label_error,
        suggested_label=row.suggested_label,
        disagreement=row.disagreement,
        annotations=annotations,
        hidden_reviews=row.hidden,
        hidden=row.hidden_message,
    )


@router.get(
    "/projects/{project_id}/runs/{run}/errors",
    name="api_run_errors",
    response_model=ErrorsPageOut,
    summary="The run's errors under review, with their consensus and every annotation",
    description=(
        "`run` is a run's name or `latest`. Errors come in review order (the sheet's), "
        f"`limit` at a time (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); pass the "
        "answer's `next_cursor` as `cursor` for the next page (it is null on the last). "
        "`causes`, `label_error` and `suggested_label` are the consensus (empty until the "
        "error is examined); `annotations` holds each person's own, adjudications included. "
        "Each error carries its sample's content as the review screen shows it: `text` "
        "(text projects), `record` (record projects), or `image_url` and `thumbnail_url` "
        "(image projects; fetched with the same token); the others are null. "
        "Under blind review (a project setting, on by default) an annotator sees none of "
        "others' verdicts on an error before finishing their own: `hidden_reviews` counts "
        "what is held back. " + FILTERS_DOC
    ),
    responses={
        **RUN_ERRORS,
        422: problem(
            "A bad filter, limit or cursor",
            "This cursor was not given out by this endpoint; start again without one.",
        ),
    },
)
def list_errors(
    request: Request,
    params: ViewParams,
    run: RunName,
    access: ApiProject,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Errors per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> ErrorsPageOut:
    filters = Filters.parse(params, params.getlist)
    page = errors_page(session, access, run, filters, limit=limit, cursor=cursor or None)
    return ErrorsPageOut(
        run=page.data.run.name,
        matching=page.matching,
        next_cursor=page.next_cursor,
        errors=[_error_out(request, page, row) for row in page.rows],
    )


def _state_out(session: Session, state: AnnotationState) -> AnnotationStateOut:
    return AnnotationStateOut(
        causes=cause_names_of(session, state.cause_ids),
        label_error=state.label_error,
        suggested_label=state.suggested_label,
        note=state.note,
        status=state.status.value,
        skip_reason=state.skip_reason,
    )


@router.put(
    "/projects/{project_id}/runs/{run}/errors/{sample_id:path}/annotation",
    name="api_annotate_error",
    response_model=AnnotationSavedOut,
    summary="Write your own annotation of one error",
    description=(
        "`sample_id` is the sample's own id (as imported). The body is the whole annotation: "
        "fields left out take their defaults. Causes are given by name (matched ignoring "
        "case, accents and spacing when no name is exact). `version` is the version the "
        "change is based on (0 for a first annotation; the answer gives the new one); when "
        "someone changed the annotation since, nothing is written and 409 returns the "
        "current state. Without `version` the body is written over the current state, "
        "whatever it is (as a PUT without If-Match). Always the caller's own annotation: "
        "nobody writes another's here. "
        "Needs a bearer token (a browser session may only read)."
    ),
    responses={
        401: UNAUTHORIZED,
        403: problem(
            "The project is archived, or the caller is not on its team",
            ProjectArchived.MESSAGE,
        ),
        404: problem(
            "No such project, run, or error under review in that run",
            "Run 'v1' has no error under review with sample id 'img_9'.",
        ),
        409: {"model": StaleAnnotationOut, "description": "`version` is stale; nothing written"},
        422: problem(
            "An unknown cause name or another invalid value",
            "This project has no cause named 'blury'. List them at GET .../causes.",
        ),
    },
)
def annotate(
    run: RunName,
    sample_id: SampleId,
    body: AnnotationIn,
    access: ApiProject,
    session: SessionDep,
) -> Response | AnnotationSavedOut:
    draft = Draft(
        label_error=body.label_error,
        suggested_label=body.suggested_label,
        note=body.note,
        status=AnnotationStatus(body.status),
        skip_reason=body.skip_reason,
    )
    try:
        saved = annotate_error(
            session, access, run, sample_id, body.causes, draft, expected_version=body.version
        )
    except StaleAnnotation as stale:
        out = StaleAnnotationOut(
            detail=stale.message, current=_state_out(session, stale.current), version=stale.version
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=status_of(stale))
    annotation = saved.result.annotation
    return AnnotationSavedOut(
        run=saved.run.name,
        sample_id=saved.sample_id,
        annotator=access.user.username,
        **_state_out(session, saved.result.state).model_dump(),
        version=annotation.version,
        updated_at=annotation.updated_at,
        changed=saved.result.changed,
    )
