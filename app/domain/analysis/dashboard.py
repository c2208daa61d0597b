"""What a lead watches while the team annotates: the footer, progress and who did what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.analysis.sheet import (
    AnnotatorTally,
    RunData,
    Tally,
    annotator_tallies,
    open_run,
)
from app.domain.analysis.views import tally
from app.domain.projects.access import ProjectAccess
from app.domain.review.status import is_under_review
from app.domain.verdicts import EXAMINED_STATUSES, ErrorStatus
from app.models import (
    Annotation,
    AnnotationKind,
    AnnotationStatus,
    Prediction,
    utcnow,
)

# --- progress -----------------------------------------------------------------------

RATE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class AnnotatorProgress:
    name: str
    finished: int
    open: int  # started, unsure or skipped: not finished
    last_hour: int  # finished in the last hour


@dataclass(frozen=True)
class Progress:
    in_review: int
    examined: int
    by_status: dict[ErrorStatus, int]
    annotators: list[AnnotatorProgress]
    last_hour: int  # annotations finished by the whole team in the last hour
    needed: int  # more examined errors for every interval to be ±5 points at most

    @property
    def waiting(self) -> int:
        return self.in_review - self.examined


def progress(session: Session, data: RunData, footer: Tally) -> Progress:
    """Where the review stands, from the stored verdicts and each annotator's stored
    sums. A rate uses `updated_at`: the time of the last change."""
    since = utcnow() - RATE_WINDOW
    by_status = dict(data.sums.statuses)
    # Errors without a stored verdict have no annotation yet: queued.
    by_status[ErrorStatus.QUEUED] += data.in_review - sum(by_status.values())
    sums = verdicts.annotator_sums(session, data.run.id)
    # Only the last hour's rows are read (an index on the time of the last change).
    last_hour: dict[int, int] = {
        r.annotator_id: r.finished
        for r in session.execute(
            select(Annotation.annotator_id, func.count().label("finished"))
            .join(Prediction, Prediction.id == Annotation.prediction_id)
            .where(
                Annotation.project_id == data.project.id,
                Annotation.updated_at >= since,
                Annotation.kind == AnnotationKind.REVIEW,
                Annotation.status == AnnotationStatus.DONE,
                is_under_review(data.run.id),
            )
            .group_by(Annotation.annotator_id)
        )
    }
    people = {uid: (own.finished, own.open, last_hour.get(uid, 0)) for uid, own in sums.items()}
    annotators = [
        AnnotatorProgress(name, *people.get(uid, (0, 0, 0))) for uid, name in data.annotators
    ]
    return Progress(
        in_review=data.in_review,
        examined=sum(by_status[s] for s in EXAMINED_STATUSES),
        by_status=by_status,
        annotators=annotators,
        last_hour=sum(a.last_hour for a in annotators),
        needed=footer.needed,
    )


@dataclass(frozen=True)
class Dashboard:
    data: RunData
    tally: Tally
    progress: Progress
    annotators: list[AnnotatorTally]


def dashboard(session: Session, access: ProjectAccess, run_name: str) -> Dashboard:
    """What a lead watches while the team annotates."""
    access.require_lead()
    return summary(session, access, run_name)


def summary(session: Session, access: ProjectAccess, run_name: str) -> Dashboard:
    """The tally, progress and per-annotator figures of a run, for any member."""
    data = open_run(session, access, run_name)
    footer = tally(session, data)
    return Dashboard(
        data, footer, progress(session, data, footer), annotator_tallies(session, data)
    )
