"""Hunting label errors, for notebooks: the most suspicious labels of a run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import ApiProject, RunName
from app.api.responses import RUN_ERRORS
from app.dependencies import SessionDep
from app.domain.analysis.label_suspects import MAX_LIMIT, label_suspects
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["tally"])


class SuspectOut(BaseModel):
    sample_id: str
    label: str = Field(description="The given (ground-truth) label")
    prediction: str
    p_label: float = Field(description="The model's probability of the given label")
    rank: int = Field(description="1 is the most suspicious")
    is_error: bool


@router.get(
    "/projects/{project_id}/runs/{run}/label-suspects",
    name="api_label_suspects",
    response_model=list[SuspectOut],
    summary="The samples whose given label the model finds least likely",
    description=(
        "`run` is a run's name or `latest`. Every prediction of the run that carries "
        "class probabilities, correct ones too, ranked by the model's probability of the "
        "given label, lowest first (the idea behind confident learning): a budget for a "
        "label check. `limit` defaults to 5 % of those predictions."
    ),
    responses=RUN_ERRORS,
)
def suspects(
    run: RunName,
    access: ApiProject,
    session: SessionDep,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
) -> list[SuspectOut]:
    result = label_suspects(session, access, run, limit)
    return [
        SuspectOut(
            sample_id=s.external_id,
            label=s.label,
            prediction=s.prediction,
            p_label=s.p_label,
            rank=s.rank,
            is_error=s.is_error,
        )
        for s in result.suspects
    ]
