"""The label audit of correct predictions, for notebooks: its estimate, and queueing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import ApiLeadAccess, ApiProject, RunName
from app.api.responses import INVALID, LEADS_ONLY, RUN_ERRORS
from app.dependencies import SessionDep
from app.domain.analysis.tally import Share
from app.domain.projects.runs import resolve_run
from app.domain.review import label_audit
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


class ShareOut(BaseModel):
    count: int
    total: int
    value: float | None = Field(description="count / total; null when total is 0")
    low: float = Field(description="95 % Wilson interval")
    high: float


class LabelAuditOut(BaseModel):
    run: str
    correct_stored: int = Field(description="Correctly classified predictions the run holds")
    queued: int = Field(description="Of those, queued for a label check")
    checked: int
    wrong: ShareOut = Field(description="Checked correct predictions whose label is wrong")
    model_right: ShareOut = Field(
        description="Examined errors whose label is wrong with the model's prediction as "
        "the suggested label: not model errors"
    )
    error_rate: float | None = Field(description="Observed: errors / evaluated")
    corrected_error_rate: float | None = Field(
        description="(errors x (1 - model_right) + correct x wrong) / evaluated; null until "
        "a label is checked or when evaluated is unknown"
    )
    corrected_low: float | None = Field(
        description="Conservative 95 % bounds: each share at its own Wilson bound"
    )
    corrected_high: float | None

    @classmethod
    def of(cls, audit: label_audit.Audit) -> LabelAuditOut:
        def share(s: Share) -> ShareOut:
            return ShareOut(count=s.count, total=s.total, value=s.value, low=s.low, high=s.high)

        return cls(
            run=audit.run.name,
            correct_stored=audit.correct_stored,
            queued=audit.queued,
            checked=audit.checked,
            wrong=share(audit.wrong),
            model_right=share(audit.model_right),
            error_rate=audit.observed_rate,
            corrected_error_rate=audit.corrected_rate,
            corrected_low=audit.corrected_low,
            corrected_high=audit.corrected_high,
        )


class AuditQueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"size": 100}})

    size: int = Field(description=f"Correct predictions to queue, 1 to {label_audit.MAX_SIZE:,}")


_DESCRIPTION = (
    "Fixing labels only where the model was wrong biases the error rate down. A random "
    "sample of the run's correctly classified predictions, checked for wrong labels in the "
    "browser, estimates the label-error rate among correct predictions and the corrected "
    "error rate. `run` is a run's name or `latest`."
)


@router.get(
    "/projects/{project_id}/runs/{run}/label-audit",
    name="api_label_audit",
    response_model=LabelAuditOut,
    summary="The label audit of correct predictions and the corrected error rate",
    description=_DESCRIPTION,
    responses=RUN_ERRORS,
)
def get_audit(run: RunName, access: ApiProject, session: SessionDep) -> LabelAuditOut:
    found = resolve_run(session, access.project, run)
    return LabelAuditOut.of(label_audit.audit_of(session, found))


@router.post(
    "/projects/{project_id}/runs/{run}/label-audit",
    name="api_label_audit_queue",
    response_model=LabelAuditOut,
    summary="Queue a random sample of correct predictions for a label check",
    description=_DESCRIPTION + " Leads only; each correct prediction is queued once at most.",
    responses={**RUN_ERRORS, 403: LEADS_ONLY, 422: INVALID},
)
def queue(
    run: RunName, body: AuditQueueIn, access: ApiLeadAccess, session: SessionDep
) -> LabelAuditOut:
    found = resolve_run(session, access.project, run)
    label_audit.queue_audit(session, access, found, body.size)
    return LabelAuditOut.of(label_audit.audit_of(session, found))
