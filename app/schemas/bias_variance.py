"""A run's error, term by term (bias, variance, mismatch, validation overfit)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TermName = Literal["avoidable_bias", "variance", "data_mismatch", "validation_overfit"]


class TermOut(BaseModel):
    term: TermName
    label: str
    value: float | None = Field(description="In error rate (0.02 = 2 points); null if missing")
    missing: list[str] = Field(description="The run's metrics this term needs and lacks")


class BiasVarianceOut(BaseModel):
    run: str
    augmented: bool = Field(
        description="The terms for extra training data from another distribution (the run "
        "reports an augmented set's error): data mismatch is then its own term"
    )
    human_error: float | None = Field(description="The proxy for the best achievable error")
    terms: list[TermOut] = Field(description="In the method's order: work on them in turn")
    largest: TermName | None = Field(description="The largest known term above 0")
    next_steps: list[str] = Field(description="The method's next steps for it, in order")
