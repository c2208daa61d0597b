"""A project's pipeline of modules and the blame per module in each run, for notebooks."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiProject
from app.api.responses import PROJECT_ERRORS
from app.api.tally import cause_tally_out
from app.dependencies import SessionDep
from app.domain.analysis.pipeline import Blamed, PipelineBlame, project_blame
from app.routing import CheckedRoute
from app.schemas.pipeline import BlamedOut, LevelOut, ModuleOut, PipelineOut, RunBlameOut

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


def _blamed(blamed: Blamed) -> BlamedOut:
    return BlamedOut(
        module=blamed.module.name if blamed.module else None,
        cause_id=blamed.cause_id,
        tally=cause_tally_out(blamed.tally) if blamed.tally else None,
    )


def run_blame_out(result: PipelineBlame) -> RunBlameOut:
    largest = result.largest
    return RunBlameOut(
        run=result.run.name,
        examined=result.examined,
        error_rate=result.error_rate,
        modules=[_blamed(b) for b in result.modules],
        design=_blamed(result.design) if result.design else None,
        ambiguous=cause_tally_out(result.ambiguous) if result.ambiguous else None,
        most_blamed=largest.name if largest else None,
        levels=[
            LevelOut(name=x.name, accuracy=x.accuracy, human_accuracy=x.human_accuracy, gap=x.gap)
            for x in result.comparison.levels
        ],
        decomposition_suspect=result.comparison.decomposition_suspect,
        warning=result.warning,
        hidden=result.hidden,
    )


@router.get(
    "/projects/{project_id}/pipeline",
    name="api_pipeline",
    response_model=PipelineOut,
    summary="The pipeline's modules, and which module each run's errors are blamed on",
    description=(
        "The project's chain of modules (input side first) with each module's measured and "
        "human-level accuracy, and for every run the errors blamed on each module (its "
        "cause's share, 95 % interval and ceiling, as in the run's tally), on pipeline "
        "design, and the share too ambiguous to blame; with each module beside its human "
        "level and whether the split into modules is itself the problem. A project without "
        "a pipeline answers `declared: false` with empty lists."
    ),
    responses=PROJECT_ERRORS,
)
def pipeline(access: ApiProject, session: SessionDep) -> PipelineOut:
    info, runs = project_blame(session, access)
    if info is None:
        return PipelineOut(
            declared=False,
            group=None,
            chain="",
            modules=[],
            design_cause_id=None,
            ambiguous_cause_id=None,
            runs=[],
        )
    return PipelineOut(
        declared=True,
        group=info.group_name,
        chain=info.chain,
        modules=[
            ModuleOut(
                name=m.name,
                position=m.position,
                cause_id=m.cause_id,
                archived=m.archived,
                accuracy=m.accuracy,
                human_accuracy=m.human_accuracy,
            )
            for m in info.modules
        ],
        design_cause_id=info.design_cause_id,
        ambiguous_cause_id=info.ambiguous_cause_id,
        runs=[run_blame_out(r) for r in runs],
    )
