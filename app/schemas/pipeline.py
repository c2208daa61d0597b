"""A project's pipeline of modules, and which module each run's errors are blamed on."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.tally import CauseTallyOut


class ModuleOut(BaseModel):
    name: str
    position: int = Field(description="In the chain, 0 on the input side")
    cause_id: int = Field(description="The cause that blames it (filter the sheet by it)")
    archived: bool
    accuracy: float | None = Field(description="The module's own measured accuracy, 0 to 1")
    human_accuracy: float | None = Field(description="People's accuracy on its sub-task")


class BlamedOut(BaseModel):
    module: str | None = Field(description="The module's name; null for pipeline design")
    cause_id: int
    tally: CauseTallyOut | None = Field(
        description="Its cause's share, interval and ceiling, as in the run's tally; null "
        "when the cause is archived and no error of the run marks it"
    )


class LevelOut(BaseModel):
    name: str
    accuracy: float | None
    human_accuracy: float | None
    gap: float | None = Field(description="human_accuracy - accuracy (below 0: better)")


class RunBlameOut(BaseModel):
    run: str
    examined: int
    error_rate: float | None
    modules: list[BlamedOut] = Field(description="Input side first")
    design: BlamedOut | None = Field(description="Blamed on the split into modules")
    ambiguous: CauseTallyOut | None = Field(description="Errors the test could not settle")
    most_blamed: str | None = Field(description="Where the improvement lies")
    levels: list[LevelOut] = Field(
        description="Each module beside its human level, then the whole pipeline (its "
        "eyeball accuracy beside 1 - the run's reported human-level error)"
    )
    decomposition_suspect: bool | None = Field(
        description="Every module near human level (within 1 point) but the whole more "
        "than 2 points short: the split into modules is the problem. Null when an "
        "accuracy or human level is missing"
    )
    warning: str | None
    hidden: str | None = Field(
        None,
        description="Blind review: others' reviews of errors the caller has not finished "
        "are not in these figures, said in words",
    )


class PipelineOut(BaseModel):
    declared: bool = Field(description="False: the project declares no pipeline")
    group: str | None = Field(description="The cause group that blames the modules")
    chain: str
    modules: list[ModuleOut]
    design_cause_id: int | None
    ambiguous_cause_id: int | None
    runs: list[RunBlameOut] = Field(description="Every run, oldest first")
