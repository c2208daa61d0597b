"""What a lead watches while the team annotates: the footer, progress and who did what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
    """Where the review stands, counted in SQL over the stored verdicts and the run's
    reviews. A rate uses `updated_at`: the time of the last change."""
    since = utcnow() - RATE_WINDOW
    by_status = dict(data.sums.statuses)
    # Errors without a stored verdict have no annotation yet: queued.
    by_status[ErrorStatus.QUEUED] += data.in_review - sum(by_status.values())
    done = Annotation.status == AnnotationStatus.DONE
    people = {
        r.annotator_id: (r.finished, r.open, r.last_hour)
        for r in session.execute(
            select(
                Annotation.annotator_id,
                func.count().filter(done).label("finished"),
                func.count().filter(~done).label("open"),
                func.count().filter(done, Annotation.updated_at >= since).label("last_hour"),
            )
            .join(Prediction, Prediction.id == Annotation.prediction_id)
            .where(Annotation.kind == AnnotationKind.REVIEW, is_under_review(data.run.id))
            .group_by(Annotation.annotator_id)
        )
    }
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
