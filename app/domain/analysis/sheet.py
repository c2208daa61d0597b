"""The error-analysis spreadsheet of one run: its rows (with the consensus) and its footer.

A run is loaded in a fixed handful of queries (the error count, the errors, their
annotations, the annotations' causes, the causes, the leads), whatever the number of
errors; consensus, filters and the footer are then computed in one pass in Python, so
the filtered footer is the tally of exactly the rows that are shown. Figures for
10,000 errors × 30 causes × 3 annotators are in bench/RESULTS.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.analysis.tally import (
    Agreement,
    Ceiling,
    Share,
    Verdict,
    Vote,
    agreement_from_counts,
    consensus,
    disagree,
    error_rate,
    errors_needed,
    label_error_advice,
    wilson,
)
from app.domain.errors import NotFound
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.domain.review.status import EXAMINED_STATUSES, ErrorStatus, error_status
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    CauseGroup,
    Membership,
    Prediction,
    Project,
    ProjectRole,
    Run,
    Sample,
    User,
)

TEXT_EXCERPT = 140


@dataclass(frozen=True)
class CauseColumn:
    id: int
    name: str
    group: str
    archived: bool


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which
# costs a tenth of a second on the 30,000 annotations of a large run.
@dataclass(slots=True)
class Mark:
    """One person's annotation of one error, as the sheet shows it."""

    annotator_id: int
    annotator: str
    status: AnnotationStatus
    causes: frozenset[int]
    label_error: bool
    suggested_label: str | None
    note: str
    version: int
    updated_at: datetime

    def vote(self) -> Vote:
        return Vote(self.annotator_id, self.causes, self.label_error, self.suggested_label)


@dataclass(slots=True)
class ErrorRow:
    prediction_id: int
    external_id: str
    label: str
    predicted: str
    confidence: float | None
    image_sha256: str | None
    excerpt: str | None
    meta: dict[str, Any]
    marks: tuple[Mark, ...]  # review annotations, any status
    adjudication: Mark | None
    status: ErrorStatus
    verdict: Verdict | None  # None until the consensus is done
    disagreement: bool

    @property
    def examined(self) -> bool:
        return self.verdict is not None

    @property
    def causes(self) -> frozenset[int]:
        return self.verdict.causes if self.verdict else frozenset()

    @property
    def label_error(self) -> bool:
        return self.verdict.label_error if self.verdict else False

    @property
    def suggested_label(self) -> str | None:
        return self.verdict.suggested_label if self.verdict else None

    @property
    def note(self) -> str:
        notes = [m.note for m in (self.adjudication, *self.marks) if m and m.note.strip()]
        return " | ".join(notes)

    @property
    def annotators(self) -> str:
        return ", ".join(m.annotator for m in self.marks)

    def votes(self, cause_id: int) -> int:
        """How many annotators marked the cause so far (shown while the error is open)."""
        return sum(1 for m in self.marks if cause_id in m.causes)

    @property
    def finished(self) -> tuple[Mark, ...]:
        return tuple(m for m in self.marks if m.status is AnnotationStatus.DONE)


@dataclass(frozen=True)
class RunData:
    """Everything the sheet, the dashboard and the exports need about one run."""

    project: Project
    run: Run
    errors: int  # all errors of the run, reviewed or not: the error rate's numerator
    columns: tuple[CauseColumn, ...]
    rows: tuple[ErrorRow, ...]  # the errors under review, in review order
    annotators: tuple[tuple[int, str], ...]  # everyone with a mark in this run

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.run.evaluated)


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_EXCERPT else flat[: TEXT_EXCERPT - 1] + "…"


def judge(
    marks: Sequence[Mark], adjudication: Mark | None, overlap: int, lead_ids: frozenset[int]
) -> tuple[ErrorStatus, Verdict | None, bool]:
    """An error's status, its consensus once examined, and whether its annotators disagree:
    the sheet's rule, shared by every view of an error (the sheet, the API, the exports)."""
    # Only a finished adjudication settles an error; a draft one leaves the vote standing.
    settled = (
        adjudication if adjudication and adjudication.status is AnnotationStatus.DONE else None
    )
    status = error_status(
        (m.status for m in marks), adjudicated=settled is not None, overlap=overlap
    )
    finished = [m.vote() for m in marks if m.status is AnnotationStatus.DONE]
    verdict = (
        consensus(finished, lead_ids, settled.vote() if settled else None)
        if status in EXAMINED_STATUSES
        else None
    )
    return status, verdict, settled is None and disagree(finished)


# What a Mark is read from: one annotation with its annotator's names.
MARK_COLUMNS = (
    Annotation.id,
    Annotation.prediction_id,
    Annotation.annotator_id,
    Annotation.kind,
    Annotation.status,
    Annotation.label_error,
    Annotation.suggested_label,
    Annotation.note,
    Annotation.version,
    Annotation.updated_at,
    User.username,
    User.display_name,
)


def mark_of(row: Any, causes: Iterable[int], annotator: str) -> Mark:
    """A Mark from a row of MARK_COLUMNS and the ids of the causes it marks."""
    return Mark(
        annotator_id=row.annotator_id,
        annotator=annotator,
        status=row.status,
        causes=frozenset(causes),
        label_error=row.label_error,
        suggested_label=row.suggested_label,
        note=row.note,
        version=row.version,
        updated_at=row.updated_at,
    )


def cause_columns(
    session: Session, project_id: int, used: Collection[int]
) -> tuple[CauseColumn, ...]:
    """The sheet's columns: live causes in their order, and archived ones that some
    annotation of the run (`used`: the cause ids its annotations mark) still uses."""
    causes = session.execute(
        select(Cause.id, Cause.name, Cause.archived_at, CauseGroup.name.label("group_name"))
        .join(CauseGroup, CauseGroup.id == Cause.group_id)
        .where(Cause.project_id == project_id)
        .order_by(CauseGroup.position, CauseGroup.id, Cause.position, Cause.id)
    ).all()
    return tuple(
        CauseColumn(c.id, c.name, c.group_name, c.archived_at is not None)
        for c in causes
        if c.archived_at is None or c.id in used
    )


def leads_of(session: Session, project_id: int) -> frozenset[int]:
    """Whose vote settles a tie (see `tally.consensus`)."""
    return frozenset(
        session.scalars(
            select(Membership.user_id).where(
                Membership.project_id == project_id, Membership.role == ProjectRole.LEAD
            )
        )
    )


def load_run(session: Session, project: Project, run: Run) -> RunData:
    """The run's errors under review with every annotation, in a fixed number of queries.

    Plain Core execution on the session's connection: these are rows of values, and the
    ORM's per-row bookkeeping would cost more than the whole tally.
    """
    db = session.connection()
    errors = session.scalar(
        select(func.count(Prediction.id)).where(Prediction.run_id == run.id, Prediction.is_error)
    )
    predictions = db.execute(
        select(
            Prediction.id,
            Prediction.label,
            Prediction.confidence,
            Sample.external_id,
            Sample.label.label("true_label"),
            Sample.image_sha256,
            Sample.text,
            Sample.meta.label("meta"),
        )
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(Prediction.run_id == run.id, Prediction.is_error, Prediction.in_review)
        .order_by(Prediction.review_order, Prediction.id)
    ).all()
    annotations = db.execute(
        select(*MARK_COLUMNS)
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .join(User, User.id == Annotation.annotator_id)
        .where(Prediction.run_id == run.id, Prediction.in_review)
        .order_by(Annotation.id)
    ).all()
    marked: dict[int, set[int]] = defaultdict(set)
    for annotation_id, cause_id in db.execute(
        select(AnnotationCause.annotation_id, AnnotationCause.cause_id)
        .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .where(Prediction.run_id == run.id, Prediction.in_review)
    ):
        marked[annotation_id].add(cause_id)
    leads = leads_of(session, project.id)

    reviews: dict[int, list[Mark]] = defaultdict(list)
    adjudications: dict[int, Mark] = {}
    names: dict[int, str] = {}
    used: set[int] = set()
    for a in annotations:
        mark = mark_of(a, marked.get(a.id, ()), a.display_name or a.username)
        used |= mark.causes
        if a.kind is AnnotationKind.ADJUDICATION:
            adjudications[a.prediction_id] = mark
        else:
            reviews[a.prediction_id].append(mark)
            names[a.annotator_id] = mark.annotator

    rows = []
    for p in predictions:
        marks = tuple(reviews.get(p.id, ()))
        adjudication = adjudications.get(p.id)
        status, verdict, disagreement = judge(marks, adjudication, project.overlap, leads)
        rows.append(
            ErrorRow(
                prediction_id=p.id,
                external_id=p.external_id,
                label=p.true_label,
                predicted=p.label,
                confidence=p.confidence,
                image_sha256=p.image_sha256,
                excerpt=_excerpt(p.text),
                meta=dict(p.meta or {}),
                marks=marks,
                adjudication=adjudication,
                status=status,
                verdict=verdict,
                disagreement=disagreement,
            )
        )
    columns = cause_columns(session, project.id, used)
    return RunData(
        project=project,
        run=run,
        errors=errors or 0,
        columns=columns,
        rows=tuple(rows),
        annotators=tuple(sorted(names.items(), key=lambda item: item[1].lower())),
    )


# --- the footer ---------------------------------------------------------------------


@dataclass(frozen=True)
class CauseTally:
    column: CauseColumn
    share: Share  # among the examined errors of the slice
    ceiling: Ceiling | None  # None when the run's error rate is unknown
    agreement: Agreement


@dataclass(frozen=True)
class AnnotatorTally:
    annotator_id: int
    name: str
    finished: int
    counts: dict[int, int]  # cause id -> how many of their finished errors they marked
    label_errors: int

    def share(self, cause_id: int) -> float | None:
        return self.counts.get(cause_id, 0) / self.finished if self.finished else None


@dataclass(frozen=True)
class Tally:
    run: Run
    evaluated: int | None
    errors: int  # of the whole run
    error_rate: float | None
    rows: int  # in the slice
    examined: int  # in the slice, consensus done
    examined_in_run: int
    causes: tuple[CauseTally, ...]
    label_errors: Share
    label_error_ceiling: Ceiling | None
    label_error_agreement: Agreement
    needed: int  # more examined errors for every interval to be ±5 points at most
    filtered: bool

    @property
    def label_error_advice(self) -> str:
        return label_error_advice(self.label_errors.value)

    @property
    def missing(self) -> str | None:
        """What the ceiling needs and does not have, said plainly."""
        if self.error_rate is None:
            return (
                "The run's error rate is unknown (the number of evaluated samples was not "
                "given at import), so ceilings are shares of the errors only, not points of "
                "error rate."
            )
        return None

    def by_size(self) -> list[CauseTally]:
        return sorted(self.causes, key=lambda c: (-(c.share.count), c.column.name.lower()))


def tally_rows(data: RunData, rows: Sequence[ErrorRow], *, filtered: bool = False) -> Tally:
    examined = [r for r in rows if r.examined]
    examined_in_run = sum(1 for r in data.rows if r.examined) if filtered else len(examined)
    counts: dict[int, int] = defaultdict(int)
    for row in examined:
        for cause_id in row.causes:
            counts[cause_id] += 1
    # Agreement: per cause, (annotators, how many marked it) on each error finished by
    # two or more; errors where nobody marked a cause enter as totals only.
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


def annotator_tallies(data: RunData, rows: Iterable[ErrorRow]) -> list[AnnotatorTally]:
    """Each annotator's own tally of the errors they finished, to set beside the consensus."""
    finished: dict[int, int] = defaultdict(int)
    counts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    label_errors: dict[int, int] = defaultdict(int)
    for row in rows:
        for mark in row.finished:
            finished[mark.annotator_id] += 1
            label_errors[mark.annotator_id] += mark.label_error
            for cause_id in mark.causes:
                counts[mark.annotator_id][cause_id] += 1
    return [
        AnnotatorTally(uid, name, finished[uid], dict(counts[uid]), label_errors[uid])
        for uid, name in data.annotators
    ]


def open_run(session: Session, access: ProjectAccess, run_name: str) -> RunData:
    """The run (by name, or `latest`) of a project the user may see, fully loaded."""
    return load_run(session, access.project, resolve_run(session, access.project, run_name))


def error_row(data: RunData, prediction_id: int) -> ErrorRow:
    row = next((r for r in data.rows if r.prediction_id == prediction_id), None)
    if row is None:
        raise NotFound("No such error under review in this run.")
    return row
