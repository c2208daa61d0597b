"""An error's status under review, and a run's progress: the one definition of done."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationKind, AnnotationStatus, Prediction, Run


@dataclass(frozen=True)
class RunProgress:
    run: Run
    errors: int  # misclassified samples stored for this run
    in_review: int  # errors in the random sample under review
    done: int  # errors in review with at least one finished annotation

    @property
    def error_rate(self) -> float | None:
        """Errors over evaluated samples; None when the evaluated count is unknown."""
        if not self.run.evaluated:
            return None
        return self.errors / self.run.evaluated


def run_progress(session: Session, run: Run) -> RunProgress:
    errors, in_review = session.execute(
        select(
            func.count(Prediction.id),
            func.count(Prediction.id).filter(Prediction.in_review),
        ).where(Prediction.run_id == run.id, Prediction.is_error)
    ).one()
    done = session.scalar(
        select(func.count(func.distinct(Annotation.prediction_id)))
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .where(
            Prediction.run_id == run.id,
            Prediction.in_review,
            Annotation.kind == AnnotationKind.REVIEW,
            Annotation.status == AnnotationStatus.DONE,
        )
    )
    return RunProgress(run=run, errors=errors, in_review=in_review, done=done or 0)
