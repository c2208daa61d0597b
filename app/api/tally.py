"""The sheet's footer as JSON and the sheet as files, for notebooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.api.deps import ApiProject, RunName, ViewParams
from app.api.responses import FILTERS_DOC, FOR_LEADS, RUN_ERRORS, problem
from app.dependencies import SessionDep
from app.domain.analysis.sheet import CauseTally, Tally, open_run
from app.domain.analysis.sheet_export import sheet_csv, sheet_xlsx
from app.domain.analysis.views import open_slice, parse_view
from app.domain.analysis.views import tally as sheet_tally
from app.downloads import attachment, export_filename
from app.routing import CheckedRoute
from app.schemas.tally import AgreementOut, CauseTallyOut, LabelErrorsOut, TallyOut

router = APIRouter(route_class=CheckedRoute, tags=["tally"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **RUN_ERRORS,
    422: problem("A filter that is not understood", "Status must be one of queued, ..."),
}
CSV_EXAMPLE = (
    "external_id,label,prediction,confidence,blurry,dark,label_error,suggested_label,"
    "note,annotators,status,examined\n"
    "e1,cat,dog,0.1,1,0,0,,,2,done,1\n"
)


def _points(value: float | None) -> float | None:
    return None if value is None else 100 * value


def cause_tally_out(cause: CauseTally) -> CauseTallyOut:
    c = cause.ceiling
    return CauseTallyOut(
        cause=cause.column.name,
        group=cause.column.group,
        archived=cause.column.archived,
        count=cause.share.count,
        share=cause.share.value,
        share_low=cause.share.low,
        share_high=cause.share.high,
        ceiling_points=_points(c.gain) if c else None,
        ceiling_points_low=_points(c.gain_low) if c else None,
        ceiling_points_high=_points(c.gain_high) if c else None,
        error_rate_if_fixed=c.rate_if_fixed if c else None,
    )


def tally_out(footer: Tally) -> TallyOut:
    causes = [cause_tally_out(cause) for cause in footer.causes]
    agreement = [
        AgreementOut(
            cause=cause.column.name,
            alpha=cause.agreement.alpha,
            percent_agreement=cause.agreement.percent,
            errors=cause.agreement.errors,
        )
        for cause in footer.causes
    ]
    flag = footer.label_error_agreement
    agreement.append(
        AgreementOut(
            cause=None, alpha=flag.alpha, percent_agreement=flag.percent, errors=flag.errors
        )
    )
    return TallyOut(
        run=footer.run.name,
        evaluated=footer.evaluated,
        errors=footer.errors,
        rows=footer.rows,
        examined=footer.examined,
        error_rate=footer.error_rate,
        ceiling_note=footer.missing,
        errors_needed_for_5_points=footer.needed,
        causes=causes,
        label_errors=LabelErrorsOut(
            count=footer.label_errors.count,
            share=footer.label_errors.value,
            share_low=footer.label_errors.low,
            share_high=footer.label_errors.high,
            advice=footer.label_error_advice,
        ),
        agreement=agreement if footer.agreement_shown else [],
        blind=footer.blind,
        hidden_reviews=footer.hidden,
        hidden=footer.hidden_message,
    )


@router.get(
    "/projects/{project_id}/runs/{run}/tally",
    name="api_tally",
    response_model=TallyOut,
    summary="The sheet's footer: per cause, share of the examined errors and ceiling",
    description="`run` is a run's name or `latest`. " + FILTERS_DOC,
    responses=READ_ERRORS,
)
def tally(params: ViewParams, run: RunName, access: ApiProject, session: SessionDep) -> TallyOut:
    filters, _, _ = parse_view(params, params.getlist)
    return tally_out(sheet_tally(session, open_run(session, access, run), filters))


@router.get(
    "/projects/{project_id}/runs/{run}/spreadsheet.csv",
    name="api_spreadsheet_csv",
    summary="The sheet as CSV: one line per error, causes as 0/1 consensus marks",
    description=FILTERS_DOC + " sort=<column> or -<column>.",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}},
        **READ_ERRORS,
        403: FOR_LEADS,
    },
)
def spreadsheet_csv(
    params: ViewParams, run: RunName, access: ApiProject, session: SessionDep
) -> Response:
    filters, sort, _ = parse_view(params, params.getlist)
    view = open_slice(session, access, run, filters, sort)
    name = export_filename(access.project.id, view.data.run.name, "sheet.csv", filters.query())
    return attachment(sheet_csv(view), "text/csv; charset=utf-8", name)


@router.get(
    "/projects/{project_id}/runs/{run}/spreadsheet.xlsx",
    name="api_spreadsheet_xlsx",
    summary="The sheet as an Excel workbook whose footer rows are formulas",
    description=FILTERS_DOC,
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **READ_ERRORS, 403: FOR_LEADS},
)
def spreadsheet_xlsx(
    params: ViewParams, run: RunName, access: ApiProject, session: SessionDep
) -> Response:
    filters, sort, _ = parse_view(params, params.getlist)
    view = open_slice(session, access, run, filters, sort)
    name = export_filename(access.project.id, view.data.run.name, "sheet.xlsx", filters.query())
    return attachment(sheet_xlsx(view), XLSX, name)
