"""The error-analysis spreadsheet of one run: its rows, filters, sorting and footer.

A run's errors are loaded in four queries (errors, annotations, their causes, the
causes), whatever their number; consensus, filters and the footer are then computed
in one pass in Python. That keeps 10,000 errors × 30 causes × 3 annotators well under
a second on both databases, and makes the filtered footer the tally of exactly the
rows that are shown.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound
from app.domain.projects import ProjectAccess, resolve_run
from app.domain.tally import (
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
    utcnow,
)

PAGE_SIZE = 50
TEXT_EXCERPT = 140


class RowStatus(enum.StrEnum):
    QUEUED = "queued"  # nobody has opened it
    IN_PROGRESS = "in_progress"
    UNSURE = "unsure"
    SKIPPED = "skipped"
    PARTIAL = "partial"  # finished by fewer annotators than the project's overlap
    DONE = "done"
    ADJUDICATED = "adjudicated"


EXAMINED_STATUSES = frozenset({RowStatus.DONE, RowStatus.ADJUDICATED})


@dataclass(frozen=True)
class CauseColumn:
    id: int
    name: str
    group: str
    archived: bool


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
    status: RowStatus
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


def _row_status(marks: Sequence[Mark], adjudicated: bool, overlap: int) -> RowStatus:
    if adjudicated:
        return RowStatus.ADJUDICATED
    finished = sum(1 for m in marks if m.status is AnnotationStatus.DONE)
    if finished >= overlap:
        return RowStatus.DONE
    if finished:
        return RowStatus.PARTIAL
    statuses = {m.status for m in marks}
    for status, row_status in (
        (AnnotationStatus.UNSURE, RowStatus.UNSURE),
        (AnnotationStatus.SKIPPED, RowStatus.SKIPPED),
        (AnnotationStatus.IN_PROGRESS, RowStatus.IN_PROGRESS),
    ):
        if status in statuses:
            return row_status
    return RowStatus.QUEUED


def load_run(session: Session, project: Project, run: Run) -> RunData:
    """The run's errors under review with every annotation, in four queries."""
    errors = session.scalar(
        select(func.count(Prediction.id)).where(Prediction.run_id == run.id, Prediction.is_error)
    )
    predictions = session.execute(
        select(
            Prediction.id,
            Prediction.label,
            Prediction.confidence,
            Sample.external_id,
            Sample.label.label("true_label"),
            Sample.image_sha256,
            Sample.text,
            Sample.meta,
        )
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(Prediction.run_id == run.id, Prediction.is_error, Prediction.in_review)
        .order_by(Prediction.review_order, Prediction.id)
    ).all()
    annotations = session.execute(
        select(
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
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .join(User, User.id == Annotation.annotator_id)
        .where(Prediction.run_id == run.id, Prediction.in_review)
        .order_by(Annotation.id)
    ).all()
    marked: dict[int, set[int]] = defaultdict(set)
    for annotation_id, cause_id in session.execute(
        select(AnnotationCause.annotation_id, AnnotationCause.cause_id)
        .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
        .join(Prediction, Prediction.id == Annotation.prediction_id)
        .where(Prediction.run_id == run.id, Prediction.in_review)
    ):
        marked[annotation_id].add(cause_id)
    causes = session.execute(
        select(Cause.id, Cause.name, Cause.archived_at, CauseGroup.name.label("group_name"))
        .join(CauseGroup, CauseGroup.id == Cause.group_id)
        .where(Cause.project_id == project.id)
        .order_by(CauseGroup.position, CauseGroup.id, Cause.position, Cause.id)
    ).all()
    lead_ids = frozenset(
        session.scalars(
            select(Membership.user_id).where(
                Membership.project_id == project.id, Membership.role == ProjectRole.LEAD
            )
        )
    )

    reviews: dict[int, list[Mark]] = defaultdict(list)
    adjudications: dict[int, Mark] = {}
    names: dict[int, str] = {}
    used: set[int] = set()
    for a in annotations:
        mark = Mark(
            annotator_id=a.annotator_id,
            annotator=a.display_name or a.username,
            status=a.status,
            causes=frozenset(marked.get(a.id, ())),
            label_error=a.label_error,
            suggested_label=a.suggested_label,
            note=a.note,
            version=a.version,
            updated_at=a.updated_at,
        )
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
        # Only a finished adjudication settles an error; a draft one leaves the vote standing.
        settled = (
            adjudication if adjudication and adjudication.status is AnnotationStatus.DONE else None
        )
        status = _row_status(marks, settled is not None, project.overlap)
        finished = [m.vote() for m in marks if m.status is AnnotationStatus.DONE]
        verdict = (
            consensus(finished, lead_ids, settled.vote() if settled else None)
            if status in EXAMINED_STATUSES
            else None
        )
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
                disagreement=settled is None and disagree(finished),
            )
        )
    # Archived causes stay as columns while some annotation of this run still uses them.
    columns = tuple(
        CauseColumn(c.id, c.name, c.group_name, c.archived_at is not None)
        for c in causes
        if c.archived_at is None or c.id in used
    )
    return RunData(
        project=project,
        run=run,
        errors=errors or 0,
        columns=columns,
        rows=tuple(rows),
        annotators=tuple(sorted(names.items(), key=lambda item: item[1].lower())),
    )


# --- filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    causes: frozenset[int] = frozenset()  # every one of them in the consensus
    label: str | None = None
    predicted: str | None = None
    annotator: int | None = None
    status: RowStatus | None = None
    meta_key: str | None = None
    meta_value: str | None = None
    label_error: bool = False
    no_cause: bool = False
    disagreements: bool = False

    @property
    def active(self) -> bool:
        return self != Filters()

    @classmethod
    def parse(cls, params: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> Filters:
        """From query parameters (the same names on the page, the exports and the API)."""
        problems: dict[str, str] = {}
        causes: set[int] = set()
        for raw in getlist("cause"):
            if raw.strip():
                try:
                    causes.add(int(raw))
                except ValueError:
                    problems["cause"] = f"'{raw}' is not a cause id."
        annotator = None
        if params.get("annotator"):
            try:
                annotator = int(params["annotator"])
            except ValueError:
                problems["annotator"] = "The annotator is given by user id."
        status = None
        if params.get("status"):
            try:
                status = RowStatus(params["status"])
            except ValueError:
                known = ", ".join(s.value for s in RowStatus)
                problems["status"] = f"Status must be one of {known}."
        meta_key = meta_value = None
        if params.get("meta"):
            key, sep, value = str(params["meta"]).partition("=")
            if not sep or not key.strip():
                problems["meta"] = "Filter metadata as key=value."
            else:
                meta_key, meta_value = key.strip(), value.strip()
        if problems:
            raise InvalidInput(problems)
        return cls(
            causes=frozenset(causes),
            label=params.get("label") or None,
            predicted=params.get("prediction") or None,
            annotator=annotator,
            status=status,
            meta_key=meta_key,
            meta_value=meta_value,
            label_error=_flag(params.get("label_error")),
            no_cause=_flag(params.get("no_cause")),
            disagreements=_flag(params.get("disagreements")),
        )

    def query(self) -> list[tuple[str, str]]:
        """Back to query parameters, for links that keep the filters."""
        items: list[tuple[str, str]] = [("cause", str(c)) for c in sorted(self.causes)]
        for name, value in (
            ("label", self.label),
            ("prediction", self.predicted),
            ("annotator", self.annotator),
            ("status", self.status.value if self.status else None),
            ("meta", f"{self.meta_key}={self.meta_value}" if self.meta_key else None),
        ):
            if value is not None:
                items.append((name, str(value)))
        for name, flag in (
            ("label_error", self.label_error),
            ("no_cause", self.no_cause),
            ("disagreements", self.disagreements),
        ):
            if flag:
                items.append((name, "1"))
        return items

    def matches(self, row: ErrorRow) -> bool:
        if self.causes and not self.causes <= row.causes:
            return False
        if self.label is not None and row.label != self.label:
            return False
        if self.predicted is not None and row.predicted != self.predicted:
            return False
        if self.annotator is not None and all(m.annotator_id != self.annotator for m in row.marks):
            return False
        if self.status is not None and row.status is not self.status:
            return False
        if self.meta_key is not None and (
            self.meta_key not in row.meta or str(row.meta[self.meta_key]) != self.meta_value
        ):
            return False
        if self.label_error and not row.label_error:
            return False
        if self.no_cause and (not row.examined or row.causes):
            return False
        return not (self.disagreements and not row.disagreement)


def _flag(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "on", "yes"}


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


def tally(data: RunData, filters: Filters = Filters()) -> Tally:
    """The footer of the rows the filters keep.

    Shares are of the slice's examined errors (the blurry share among night-time
    images). Ceilings are points of the run's error rate, so a slice's ceiling counts
    its errors against all examined errors of the run: fixing blurry night-time images
    can gain at most e × (their count / all examined errors).
    """
    rows = [r for r in data.rows if filters.matches(r)]
    return tally_rows(data, rows, filtered=filters.active)


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


# --- sorting and pages --------------------------------------------------------------


def _sort_key(column: str) -> Callable[[ErrorRow], Any] | None:
    keys: dict[str, Callable[[ErrorRow], Any]] = {
        "review": lambda r: 0,
        "id": lambda r: r.external_id,
        "label": lambda r: r.label,
        "prediction": lambda r: r.predicted,
        "confidence": lambda r: (r.confidence is None, r.confidence or 0.0),
        "label_error": lambda r: (not r.label_error, r.suggested_label or ""),
        "note": lambda r: (not r.note, r.note.lower()),
        "annotators": lambda r: r.annotators.lower(),
        "status": lambda r: list(RowStatus).index(r.status),
    }
    if column in keys:
        return keys[column]
    if column.startswith("cause:") and column[6:].isdigit():
        cause_id = int(column[6:])
        return lambda r: cause_id not in r.causes
    return None


@dataclass(frozen=True)
class Sort:
    column: str = "review"
    descending: bool = False

    @classmethod
    def parse(cls, value: str | None) -> Sort:
        """`column` or `-column` (descending); unknown columns are refused."""
        if not value:
            return cls()
        descending = value.startswith("-")
        column = value.lstrip("-")
        if _sort_key(column) is None:
            raise InvalidInput({"sort": f"The sheet cannot be sorted by '{column}'."})
        return cls(column, descending)

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.column

    def toggled(self, column: str) -> str:
        """The sort parameter a click on `column`'s header asks for."""
        if column == self.column and not self.descending:
            return "-" + column
        return column

    def apply(self, rows: Sequence[ErrorRow]) -> list[ErrorRow]:
        key = _sort_key(self.column)
        assert key is not None
        # Python's sort is stable: ties keep the review order.
        return sorted(rows, key=key, reverse=self.descending)


@dataclass(frozen=True)
class SheetPage:
    data: RunData
    filters: Filters
    sort: Sort
    rows: list[ErrorRow]  # this page only
    matching: int
    page: int
    pages: int
    tally: Tally
    all_rows: list[ErrorRow] = field(repr=False)  # the whole filtered, sorted slice

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.matching else 0

    @property
    def last(self) -> int:
        return min(self.page * PAGE_SIZE, self.matching)


def sheet_page(
    data: RunData, filters: Filters, sort: Sort, page: int = 1, page_size: int = PAGE_SIZE
) -> SheetPage:
    """One page of the filtered, sorted sheet, with the footer of the whole filtered slice."""
    kept = sort.apply([r for r in data.rows if filters.matches(r)])
    pages = max(1, -(-len(kept) // page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    return SheetPage(
        data=data,
        filters=filters,
        sort=sort,
        rows=kept[start : start + page_size],
        matching=len(kept),
        page=page,
        pages=pages,
        tally=tally_rows(data, kept, filtered=filters.active),
        all_rows=kept,
    )


def parse_view(
    params: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> tuple[Filters, Sort, int]:
    """Filters, sort and page from query parameters: the same on every sheet URL and the API."""
    page = str(params.get("page") or "1")
    if not page.isdigit():
        raise InvalidInput({"page": "The page is a number."})
    return Filters.parse(params, getlist), Sort.parse(params.get("sort")), int(page)


def open_run(session: Session, access: ProjectAccess, run_name: str) -> RunData:
    """The run (by name, or `latest`) of a project the user may see, fully loaded."""
    return load_run(session, access.project, resolve_run(session, access.project, run_name))


def open_sheet(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    filters: Filters,
    sort: Sort,
    page: int = 1,
) -> SheetPage:
    return sheet_page(open_run(session, access, run_name), filters, sort, page)


def error_row(data: RunData, prediction_id: int) -> ErrorRow:
    row = next((r for r in data.rows if r.prediction_id == prediction_id), None)
    if row is None:
        raise NotFound("No such error under review in this run.")
    return row


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
    by_status: dict[RowStatus, int]
    annotators: list[AnnotatorProgress]
    last_hour: int  # annotations finished by the whole team in the last hour
    needed: int  # more examined errors for every interval to be ±5 points at most

    @property
    def waiting(self) -> int:
        return self.in_review - self.examined


def progress(data: RunData, footer: Tally) -> Progress:
    """Where the review stands. A rate uses `updated_at`: the time of the last change."""
    since = utcnow() - RATE_WINDOW
    by_status = dict.fromkeys(RowStatus, 0)
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
    footer = tally(data)
    return Dashboard(data, footer, progress(data, footer), annotator_tallies(data, data.rows))
