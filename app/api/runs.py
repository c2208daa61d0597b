"""A project's runs: list them, or register one before its predictions arrive."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiOpenLeadAccess, ApiProject
from app.api.responses import INVALID, LEADS_ONLY, PROJECT_ERRORS, problem
from app.dependencies import SessionDep
from app.domain.projects.runs import RunFields, create_run, run_table
from app.domain.review.status import run_progress
from app.routing import CheckedRoute
from app.schemas.runs import RunIn, RunOut

router = APIRouter(route_class=CheckedRoute, tags=["runs"])


@router.get(
    "/projects/{project_id}/runs",
    name="api_runs",
    response_model=list[RunOut],
    summary="The project's runs, newest first",
    description="Each run with its error count, error rate, review progress and the metrics "
    "(human-level, training, blackbox... error rates) recorded for it. Any run's name, or "
    "`latest`, can be used wherever a path takes `{run}`.",
    responses=PROJECT_ERRORS,
)
def list_runs(access: ApiProject, session: SessionDep) -> list[RunOut]:
    return [RunOut.of(progress) for progress in run_table(session, access)]


@router.post(
    "/projects/{project_id}/runs",
    name="api_create_run",
    status_code=201,
    response_model=RunOut,
    summary="Register a run",
    description="Leads only. Registers a run (its evaluated count and its metrics as fractions, "
    "0.025 for 2.5%) before its predictions are pushed with `POST .../runs/{run}/predictions` "
    "or imported; importing into a new name creates the run too.",
    responses={
        **PROJECT_ERRORS,
        403: LEADS_ONLY,
        409: problem("The name is taken", "Another run is already called 'resnet50-v3'."),
        422: INVALID,
    },
)
def register_run(body: RunIn, access: ApiOpenLeadAccess, session: SessionDep) -> RunOut:
    fields = RunFields.checked(
        name=body.name,
        description=body.description,
        evaluated=body.evaluated,
        metrics=body.metrics,
    )
    run = create_run(session, access, fields)
    return RunOut.of(run_progress(session, access.project, run))
