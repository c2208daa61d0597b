"""Is the eyeball set still fit for error analysis?"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WornOutOut(BaseModel):
    before: str = Field(
        description="The earlier run compared with (the latest with a blackbox error)"
    )
    after: str
    eyeball_before: float = Field(description="Eyeball error rate of `before`, 0 to 1")
    eyeball_after: float
    blackbox_before: float = Field(description="Reported blackbox-validation error of `before`")
    blackbox_after: float
    eyeball_gain: float = Field(description="eyeball_before - eyeball_after")
    blackbox_gain: float = Field(description="blackbox_before - blackbox_after")
    z: float = Field(
        description="Two-proportion z statistic of eyeball_gain - blackbox_gain, on the "
        "eyeball counts (the blackbox error taken as exact)"
    )
    p_value: float = Field(description="One-sided: that the eyeball error fell by more")
    likely: bool = Field(description="p_value < 0.05: the eyeball set is likely overfit")


class HealthOut(BaseModel):
    run: str
    errors: int = Field(description="Errors in the eyeball set, as this run scored it")
    evaluated: int | None
    error_rate: float | None
    size_for_100: int | None = Field(
        description="The eyeball set that would show ~100 errors at this error rate "
        "(100 / error_rate); null when the rate is unknown or 0"
    )
    reading: Literal["very small", "a rough idea", "a good idea", "a very good idea"] = Field(
        description="The method's reading of the count: about 10 errors is very small, 20 "
        "give a rough idea of the main causes, 50 a good one, 100 a very good one"
    )
    worn_out: WornOutOut | None = Field(
        description="Null unless this run and an earlier one both have a reported "
        "blackbox-validation error and an evaluated count"
    )
