"""An error's status under review, and a run's progress: the one definition of done.

An error under review is *examined* (done) when a lead's finished adjudication settles
it, or when as many annotators as the project's overlap have finished it. Only examined
errors count in the tally. Every page, the API and the exports read that rule from here:
`error_status` for an error whose annotations are in memory (the sheet), and
`examined_errors` for the same rule as SQL, to count without loading a run (the project
page, the review screen's progress). A property test holds the two to each other.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import error_rate
from app.models import Annotation, AnnotationKind, AnnotationStatus, Prediction, Project, Run


class ErrorStatus(enum.StrEnum):
    QUEUED = "queued"  # nobody has opened it
    IN_PROGRESS = "in_progress"
    UNSURE = "unsure"
    SKIPPED = "skipped"
    PARTIAL = "partial"  # finished by fewer annotators than the project's overlap
    DONE = "done"
    ADJUDICATED = "adjudicated"


EXAMINED_STATUSES = frozenset({ErrorStatus.DONE, ErrorStatus.ADJUDICATED})

# Among annotations none of which is finished, the one that says most about the error.
_OPEN_STATUSES = (
    (AnnotationStatus.UNSURE, ErrorStatus.UNSURE),
    (AnnotationStatus.SKIPPED, ErrorStatus.SKIPPED),
    (AnnotationStatus.IN_PROGRESS, ErrorStatus.IN_PROGRESS),
)


def error_status(
    review_statuses: Iterable[AnnotationStatus], *, adjudicated: bool, overlap: int
) -> ErrorStatus:
    """The status of one error from its review annotations' statuses, whether a finished
    adjudication settles it, and how many annotators the project wants per error."""
    if adjudicated:
        return ErrorStatus.ADJUDICATED
    statuses = list(review_statuses)
    finished = statuses.count(AnnotationStatus.DONE)
    if finished >= overlap:
        return ErrorStatus.DONE
    if finished:
        return ErrorStatus.PARTIAL
    present = set(statuses)
    for annotation_status, status in _OPEN_STATUSES:
        if annotation_status in present:
            return status
    return ErrorStatus.QUEUED


def under_review(run: Run) -> Select[Prediction]:
    """The run's errors in the random sample under review."""
    return select(Prediction).where(
        Prediction.run_id == run.id, Prediction.in_review, Prediction.is_error
    )


def is_examined(overlap: int) -> ColumnElement[bool]:
    """`error_status(...) in EXAMINED_STATUSES`, as a condition on `Prediction`."""
    finished_reviews = (
        select(func.count(Annotation.id))
        .where(
            Annotation.prediction_id == Prediction.id,
            Annotation.kind == AnnotationKind.REVIEW,
            Annotation.status == AnnotationStatus.DONE,
        )
        .scalar_subquery()
    )
    settled = exists().where(
        Annotation.prediction_id == Prediction.id,
        Annotation.kind == AnnotationKind.ADJUDICATION,
        Annotation.status == AnnotationStatus.DONE,
    )
    return or_(settled, finished_reviews >= overlap)


def examined_errors(session: Session, run: Run, overlap: int) -> int:
    """How many of the run's errors under review are examined."""
    query = under_review(run).where(is_examined(overlap)).with_only_columns(func.count())
    return session.scalar(query) or 0


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
    errors, in_review = session.execute(
        select(
            func.count(Prediction.id),
            func.count(Prediction.id).filter(Prediction.in_review),
        ).where(Prediction.run_id == run.id, Prediction.is_error)
    ).one()
    return RunProgress(
        run=run,
        errors=errors,
        in_review=in_review,
        done=examined_errors(session, run, project.overlap),
    )
