"""Is the eyeball set still fit for error analysis? For notebooks."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiProject, RunName
from app.api.responses import RUN_ERRORS
from app.dependencies import SessionDep
from app.domain.analysis.health import Health, set_health
from app.routing import CheckedRoute
from app.schemas.health import HealthOut, WornOutOut

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


def health_out(health: Health) -> HealthOut:
    worn = health.worn_out
    return HealthOut(
        run=health.run,
        errors=health.errors,
        evaluated=health.evaluated,
        error_rate=health.error_rate,
        size_for_100=health.size_for_100,
        reading=health.reading.value,
        # Field for field the domain's `WornOut`, its derived figures included.
        worn_out=None if worn is None else WornOutOut.model_validate(worn, from_attributes=True),
    )


@router.get(
    "/projects/{project_id}/runs/{run}/health",
    name="api_health",
    response_model=HealthOut,
    summary="Is the eyeball set big enough, and not worn out?",
    description=(
        "`run` is a run's name or `latest`. The errors the eyeball set shows at this run, "
        "the set size that would show ~100 (the method's target), the method's reading of "
        "the count, and, when this run and an earlier one report a blackbox-validation "
        "error, whether the eyeball error fell clearly more than the blackbox error (a "
        "one-sided two-proportion z-test at 5 %): then the eyeball set is likely overfit."
    ),
    responses=RUN_ERRORS,
)
def health(run: RunName, access: ApiProject, session: SessionDep) -> HealthOut:
    return health_out(set_health(session, access, run))
