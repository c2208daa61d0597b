"""What a lead watches while the team annotates: the footer, progress and who did what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from app.domain.analysis.sheet import (
    AnnotatorTally,
    RunData,
    Tally,
    annotator_tallies,
    open_run,
    tally_rows,
)
from app.domain.projects.access import ProjectAccess
from app.domain.review.status import EXAMINED_STATUSES, ErrorStatus
from app.models import AnnotationStatus, utcnow

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


def progress(data: RunData, footer: Tally) -> Progress:
    """Where the review stands. A rate uses `updated_at`: the time of the last change."""
    since = utcnow() - RATE_WINDOW
    by_status = dict.fromkeys(ErrorStatus, 0)
    people: dict[int, list[int]] = {uid: [0, 0, 0] for uid, _ in data.annotators}
    for row in data.rows:
        by_status[row.status] += 1
        for mark in row.marks:
            counts = people[mark.annotator_id]
            if mark.status is AnnotationStatus.DONE:
                counts[0] += 1
                counts[2] += mark.updated_at >= since
            else:
                counts[1] += 1
    annotators = [AnnotatorProgress(name, *people[uid]) for uid, name in data.annotators]
    return Progress(
        in_review=len(data.rows),
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
    footer = tally_rows(data, data.rows)
    return Dashboard(data, footer, progress(data, footer), annotator_tallies(data, data.rows))
