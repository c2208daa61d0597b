"""Carried causes: an error that was already wrong in an earlier run comes with that
run's consensus, as a suggestion.

A new model version keeps many of the old one's errors ("stayed wrong" when runs are
compared), and the annotators had already said why. The review screen offers the
earlier consensus; it counts for nothing until the annotator takes it as their own
(then it is their annotation, saved like any other).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.projects.runs import runs_of
from app.domain.review.visibility import Visibility, seen_errors
from app.models import Cause, Prediction, Project, Run


@dataclass(frozen=True)
class Carried:
    """An earlier run's consensus on the same sample."""

    run: str
    cause_ids: tuple[int, ...]
    causes: tuple[str, ...]  # the causes' names, in the cause list's order
    label_error: bool
    suggested_label: str | None


def carried_verdict(
    session: Session, project: Project, run: Run, sample_id: int, *, seen_by: Visibility
) -> Carried | None:
    """The consensus of the latest earlier run in which this sample was an error and was
    examined; None when there is none (or it names no cause and no label error). Under
    blind review, only a consensus the viewer may see (they finished that error too)."""
    runs = runs_of(session, project)  # oldest first
    order = {r.id: i for i, r in enumerate(runs)}
    earlier = {r.id: r for r in runs if order[r.id] < order[run.id]}
    if not earlier:
        return None
    errors = session.execute(
        select(Prediction.id, Prediction.run_id).where(
            Prediction.sample_id == sample_id,
            Prediction.run_id.in_(earlier),
            Prediction.is_error,
        )
    ).all()
    seen = seen_errors(session, seen_by, [e.id for e in errors])
    stored = verdicts.stored(session, seen)
    for prediction_id, run_id in sorted(errors, key=lambda e: order[e.run_id], reverse=True):
        verdict = stored.get(prediction_id)
        consensus = verdict.consensus if verdict is not None else None
        if consensus is None or not (consensus.causes or consensus.label_error):
            continue
        live = session.execute(
            select(Cause.id, Cause.name)
            .where(Cause.id.in_(consensus.causes), Cause.archived_at.is_(None))
            .order_by(Cause.position, Cause.id)
        ).all()
        if not live and not consensus.label_error:
            continue  # only causes retired since: nothing left to suggest
        return Carried(
            run=earlier[run_id].name,
            cause_ids=tuple(c.id for c in live),
            causes=tuple(c.name for c in live),
            label_error=consensus.label_error,
            suggested_label=consensus.suggested_label,
        )
    return None
