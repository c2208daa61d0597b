"""The sheet worked out the slow way, in Python, over every row of a run: the reference
the SQL filters, sort and footer (`app.domain.analysis.views`) are tested against.

This is how the sheet computed itself before verdicts were stored. It is kept here, for
tests only, because a second way of getting the same figures is what catches a wrong
aggregate: the app has one way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.sheet import (
    CauseTally,
    ErrorRow,
    RunData,
    Tally,
    rows_of,
)
from app.domain.analysis.tally import (
    Agreement,
    Ceiling,
    agreement_from_counts,
    errors_needed,
    wilson,
)
from app.domain.analysis.views import Filters
from app.domain.review.status import is_under_review
from app.models import Prediction


def every_row(session: Session, data: RunData) -> list[ErrorRow]:
    """Every error under review of the run, in review order."""
    ids = list(
        session.scalars(
            select(Prediction.id)
            .where(is_under_review(data.run.id))
            .order_by(Prediction.review_order.is_(None), Prediction.review_order, Prediction.id)
        )
    )
    return rows_of(session, data, ids)


def matches(filters: Filters, row: ErrorRow) -> bool:
    if filters.causes and not filters.causes <= row.causes:
        return False
    if filters.label is not None and row.label != filters.label:
        return False
    if filters.predicted is not None and row.predicted != filters.predicted:
        return False
    if filters.annotator is not None and all(
        m.annotator_id != filters.annotator for m in row.marks
    ):
        return False
    if filters.status is not None and row.status is not filters.status:
        return False
    if filters.meta_key is not None and (
        filters.meta_key not in row.meta or str(row.meta[filters.meta_key]) != filters.meta_value
    ):
        return False
    if filters.label_error and not row.label_error:
        return False
    if filters.no_cause and (not row.examined or row.causes):
        return False
    return not (filters.disagreements and not row.disagreement)


def tally_rows(
    data: RunData, every: Sequence[ErrorRow], rows: Sequence[ErrorRow], *, filtered: bool
) -> Tally:
    examined = [r for r in rows if r.examined]
    examined_in_run = sum(1 for r in every if r.examined) if filtered else len(examined)
    counts: dict[int, int] = defaultdict(int)
    for row in examined:
        for cause_id in row.causes:
            counts[cause_id] += 1
    marked_units: dict[int, list[tuple[int, int]]] = defaultdict(list)
    label_units: list[tuple[int, int]] = []
    pairable = pairable_values = 0
    for row in rows:
        finished = row.finished
        m = len(finished)
        if m < 2:
            continue
        pairable += 1
        pairable_values += m
        marks: dict[int, int] = defaultdict(int)
        for mark in finished:
            for cause_id in mark.causes:
                marks[cause_id] += 1
        for cause_id, ones in marks.items():
            marked_units[cause_id].append((m, ones))
        label_units.append((m, sum(1 for mark in finished if mark.label_error)))

    def agreement(units: list[tuple[int, int]]) -> Agreement:
        return agreement_from_counts(
            units,
            unmarked_units=pairable - len(units),
            unmarked_values=pairable_values - sum(m for m, _ in units),
        )

    rate = data.error_rate
    n = len(examined)

    def ceiling(count: int) -> Ceiling | None:
        return Ceiling(rate, wilson(count, examined_in_run)) if rate is not None else None

    causes = tuple(
        CauseTally(
            column=column,
            share=wilson(counts[column.id], n),
            ceiling=ceiling(counts[column.id]),
            agreement=agreement(marked_units.get(column.id, [])),
        )
        for column in data.columns
    )
    label_count = sum(1 for r in examined if r.label_error)
    shares = [c.share.value for c in causes] + [label_count / n if n else None]
    return Tally(
        run=data.run,
        evaluated=data.run.evaluated,
        errors=data.errors,
        error_rate=rate,
        rows=len(rows),
        examined=n,
        examined_in_run=examined_in_run,
        causes=causes,
        label_errors=wilson(label_count, n),
        label_error_ceiling=ceiling(label_count),
        label_error_agreement=agreement_from_counts(label_units),
        needed=max(0, errors_needed(shares) - n),
        filtered=filtered,
    )
