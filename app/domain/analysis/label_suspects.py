"""Hunting label errors: the samples whose given label the model finds least likely.

The idea behind confident learning: where a run carries class probabilities, a sample
whose label gets a low probability is more often wrongly labelled than one the model
agrees with. Ranked by that probability, lowest first, "the N most suspicious" is a
budget for a label check. Over every prediction of the run that has probabilities,
correct ones too: a wrong label the model "got right" is a label error just the same.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.analysis.inert import inert_text
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.models import Prediction, Run, Sample

BUDGET_SHARE = 0.05  # the default budget: the 5 % most suspicious
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Suspect:
    rank: int
    external_id: str
    label: str
    prediction: str
    p_label: float  # the model's probability of the given label
    is_error: bool


@dataclass(frozen=True)
class Suspects:
    run: Run
    ranked: int  # predictions with probabilities: the pool the ranking is over
    suspects: tuple[Suspect, ...]  # the first `limit` of them

    @property
    def default_budget(self) -> int:
        return budget_for(self.ranked)


def p_label(probs: dict[str, float] | None, label: str) -> float | None:
    """The model's probability of the given label: None without probabilities, 0 for
    a label the model gave no probability (it found it impossible)."""
    if not isinstance(probs, dict) or not probs:
        return None
    value = probs.get(label, 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def budget_for(ranked: int) -> int:
    """The default budget: the 5 % most suspicious, at least one."""
    return max(1, math.ceil(BUDGET_SHARE * ranked)) if ranked else 0


def label_suspects(
    session: Session, access: ProjectAccess, run_name: str, limit: int | None = None
) -> Suspects:
    """The run's most suspicious labels, lowest probability of the given label first
    (ties by sample id); `limit` None gives the default budget (5 %). Reads only the
    rows shown, by the probability stored at import."""
    run = resolve_run(session, access.project, run_name)
    scored = Prediction.run_id == run.id, Prediction.p_label.is_not(None)
    ranked = session.scalar(select(func.count()).select_from(Prediction).where(*scored)) or 0
    count = budget_for(ranked) if limit is None else max(0, min(limit, MAX_LIMIT))
    rows = session.execute(
        select(
            Sample.external_id,
            Sample.label,
            Prediction.label.label("prediction"),
            Prediction.p_label,
            Prediction.is_error,
        )
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(*scored)
        .order_by(Prediction.p_label, Sample.external_id)
        .limit(count)
    ).all()
    suspects = tuple(
        Suspect(rank, r.external_id, r.label, r.prediction, float(r.p_label), r.is_error)
        for rank, r in enumerate(rows, start=1)
    )
    return Suspects(run, ranked, suspects)


@dataclass(frozen=True)
class Suspicion:
    """One prediction's place in its run's ranking of suspected label errors."""

    p_label: float
    rank: int  # 1 = the most suspicious
    ranked: int  # predictions of the run with probabilities

    @property
    def in_budget(self) -> bool:
        return self.rank <= budget_for(self.ranked)


def suspicion_of(session: Session, prediction: Prediction) -> Suspicion | None:
    """Where this prediction stands among its run's suspects, by the same order as
    `label_suspects`; None without probabilities."""
    if prediction.p_label is None:
        return None
    scored = Prediction.run_id == prediction.run_id, Prediction.p_label.is_not(None)
    ranked = session.scalar(select(func.count()).select_from(Prediction).where(*scored)) or 0
    external_id = select(Sample.external_id).where(Sample.id == prediction.sample_id)
    before = session.scalar(
        select(func.count())
        .select_from(Prediction)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(
            *scored,
            (Prediction.p_label < prediction.p_label)
            | (
                (Prediction.p_label == prediction.p_label)
                & (Sample.external_id < external_id.scalar_subquery())
            ),
        )
    )
    return Suspicion(prediction.p_label, (before or 0) + 1, ranked)


def suspects_csv(result: Suspects) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "sample_id", "label", "prediction", "p_label", "is_error"])
    for s in result.suspects:
        writer.writerow(
            [
                s.rank,
                inert_text(s.external_id),
                inert_text(s.label),
                inert_text(s.prediction),
                f"{s.p_label:.4f}",
                int(s.is_error),
            ]
        )
    return out.getvalue()
