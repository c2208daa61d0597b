"""Bias and variance from a run's reported error rates, for notebooks."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiProject, RunName
from app.api.responses import RUN_ERRORS
from app.dependencies import SessionDep
from app.domain.analysis.bias_variance import Breakdown, breakdown
from app.domain.projects.runs import resolve_run
from app.routing import CheckedRoute
from app.schemas.bias_variance import BiasVarianceOut, TermOut

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


def breakdown_out(result: Breakdown) -> BiasVarianceOut:
    largest = result.largest
    return BiasVarianceOut(
        run=result.run,
        augmented=result.augmented,
        human_error=result.human_error,
        terms=[
            TermOut(term=p.term.value, label=p.label, value=p.value, missing=list(p.missing))
            for p in result.parts
        ],
        largest=largest.term.value if largest is not None else None,
        next_steps=list(result.next_steps),
    )


@router.get(
    "/projects/{project_id}/runs/{run}/bias-variance",
    name="api_bias_variance",
    response_model=BiasVarianceOut,
    summary="The run's error, term by term: avoidable bias, variance, mismatch, overfit",
    description=(
        "`run` is a run's name or `latest`. From the error rates reported for the run "
        "(human-level, training, blackbox validation, test, and the augmented sets'), "
        "with human-level error as the proxy for the best achievable: avoidable bias, "
        "variance, data mismatch (with augmented sets) and overfitting the validation "
        "sets, in the method's order; a term whose metrics are not reported is null, "
        "with what it lacks in `missing`."
    ),
    responses=RUN_ERRORS,
)
def bias_variance(run: RunName, access: ApiProject, session: SessionDep) -> BiasVarianceOut:
    return breakdown_out(breakdown(resolve_run(session, access.project, run)))
