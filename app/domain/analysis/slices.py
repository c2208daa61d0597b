"""When the model beats people: the error rate of each slice of the eyeball set.

Progress slows once the model is better than an ordinary person, and the human-level
proxy for the best achievable error stops guiding. Error analysis still pays on the
slices where the model is still worse than people. A slice is the samples with one
value of a metadata key; its error rate is over every evaluated sample in it, correct
ones included, so it needs a run whose correct predictions were imported too.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import Share, wilson
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.models import Prediction, Run, Sample

NO_VALUE = "(none)"


class Versus(enum.StrEnum):
    """The slice's error rate beside the human-level error, by its 95% interval."""

    WORSE = "worse than people"
    BETTER = "better than people"
    UNCLEAR = "unclear"
    UNKNOWN = "no human-level error reported"


@dataclass(frozen=True)
class Slice:
    value: str
    rate: Share  # errors of the slice's evaluated samples, with its Wilson interval
    versus: Versus


@dataclass(frozen=True)
class Slices:
    run: Run
    keys: tuple[str, ...]  # the metadata keys the run's samples carry
    key: str | None
    stored: int  # predictions the run holds
    complete: bool  # the run holds its correct predictions too (not only its errors)
    rows: tuple[Slice, ...]  # worst error rate first


def versus(rate: Share, human_error: float | None) -> Versus:
    if human_error is None:
        return Versus.UNKNOWN
    if rate.total and rate.low > human_error:
        return Versus.WORSE
    if rate.total and rate.high < human_error:
        return Versus.BETTER
    return Versus.UNCLEAR


def _text(value: object) -> str:
    return NO_VALUE if value is None or value == "" else str(value)


def slice_table(
    session: Session, access: ProjectAccess, run_name: str, key: str | None = None
) -> Slices:
    """The run's error rate by the values of metadata `key` (by default the first key)."""
    run = resolve_run(session, access.project, run_name)
    rows = session.execute(
        select(Sample.meta, Prediction.is_error)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(Prediction.run_id == run.id)
    ).all()
    keys = tuple(sorted({k for meta, _ in rows for k in (meta or {})}))
    complete = len(rows) > run.errors
    chosen = key if key in keys else (keys[0] if keys else None)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if chosen is not None and complete:
        for meta, is_error in rows:
            tally = counts[_text((meta or {}).get(chosen))]
            tally[0] += int(is_error)
            tally[1] += 1
    table = sorted(
        (
            Slice(value, rate := wilson(errors, total), versus(rate, run.human_error))
            for value, (errors, total) in counts.items()
        ),
        key=lambda s: (-(s.rate.value or 0.0), s.value),
    )
    return Slices(run, keys, chosen, len(rows), complete, tuple(table))
