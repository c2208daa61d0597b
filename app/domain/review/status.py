"""A run's progress under review: the one definition of done, counted.

An error under review is *examined* (done) when a lead's finished adjudication settles
it, or when as many annotators as the project's overlap have finished it
(`verdicts.error_status`, the rule; it is stored per error with the verdict). Only
examined errors count in the tally. The project page, the review screen's progress, the
dashboard and the API count them here, from the stored verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import error_rate
from app.domain.verdicts import EXAMINED_STATUSES, ErrorStatus, error_status, run_sums
from app.models import Prediction, Project, Run

__all__ = [
    "EXAMINED_STATUSES",
    "ErrorStatus",
    "RunProgress",
    "error_counts",
    "error_status",
    "examined_errors",
    "is_under_review",
    "run_progress",
    "under_review",
]


def is_under_review(run_id: int) -> ColumnElement[bool]:
    """The condition on `Prediction` of the run's errors in the random sample under
    review: the review queue's errors and the sheet's rows."""
    return and_(Prediction.run_id == run_id, Prediction.in_review, Prediction.is_error)


def under_review(run: Run) -> Select[Prediction]:
    """The run's errors in the random sample under review."""
    return select(Prediction).where(is_under_review(run.id))


def error_counts(session: Session, run_id: int) -> tuple[int, int]:
    """How many errors the run has stored, and how many of them are under review (as the
    last import counted them: `verdicts.recount_errors`)."""
    counts = session.execute(select(Run.errors, Run.in_review).where(Run.id == run_id)).one()
    return counts.errors, counts.in_review


def examined_errors(session: Session, run: Run) -> int:
    """How many of the run's errors under review are examined (the run's stored sums)."""
    return run_sums(session, run.id).examined


@dataclass(frozen=True)
class RunProgress:
    run: Run
    errors: int  # misclassified samples stored for this run
    in_review: int  # errors in the random sample under review
    done: int  # errors under review that are examined (see the module's docstring)

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.run.evaluated)


def run_progress(session: Session, project: Project, run: Run) -> RunProgress:
    errors, in_review = error_counts(session, run.id)
    return RunProgress(
        run=run,
        errors=errors,
        in_review=in_review,
        done=examined_errors(session, run),
    )
