"""Every annotation of a run as CSV, JSON Lines or a JSON array, streamed in constant memory.

A run can hold hundreds of thousands of annotations, so nothing here loads the run:
the errors under review are read in keyset pages of PAGE_SIZE (in review order), each
page with its annotations and their causes, and each page is encoded and handed on
before the next is read. Only the cause columns and the leads are held throughout.

Each page is read in a short transaction of its own. A download can last minutes (a
slow network, a browser saving 100 MB), and a client can vanish mid-way: between pages
nothing is held open, neither a PostgreSQL transaction nor an SQLite snapshot that
would keep the WAL from being checkpointed. An error's rows always come from one
transaction, since all of its annotations are in the same page.

The consensus rows are the sheet's: each error's stored verdict (`app.domain.verdicts`),
read with the error's page.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.domain.analysis.inert import inert, inert_text
from app.domain.analysis.sheet import CauseColumn, ErrorRow, cause_columns, own_causes, row_of
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.domain.review.visibility import everything, visibility_of
from app.domain.verdicts import (
    ErrorMarks,
    Mark,
    StoredVerdict,
    annotations_of,
    run_sums,
    stored,
)
from app.models import (
    AnnotationKind,
    Cause,
    Prediction,
    Sample,
)

# Errors per page. Memory is bounded by a page's annotations, whatever the run's size.
PAGE_SIZE = 500

CAUSE_PREFIX = "cause:"
ANNOTATION_FIELDS = (
    "sample_id",
    "label",
    "prediction",
    "confidence",
    "annotator",
    "kind",
    "status",
    "label_error",
    "suggested_label",
    "note",
    "version",
    "updated_at",
    "causes",
)
CONSENSUS_FIELDS = (
    "sample_id",
    "label",
    "prediction",
    "confidence",
    "status",
    "examined",
    "disagreement",
    "annotators",
    "label_error",
    "suggested_label",
    "note",
    "causes",
)

ExportRow = dict[str, Any]


@dataclass(frozen=True)
class ExportRequest:
    """What to export, settled (and access checked) before the first byte is sent."""

    project_id: int
    run_id: int
    run_name: str
    consensus: bool
    # Whose annotations: None for everyone's (leads and admins), else an annotator's own.
    annotator_id: int | None = None

    @property
    def kind(self) -> str:
        return "consensus" if self.consensus else "annotations"


def request_export(
    session: Session, access: ProjectAccess, run_name: str, *, consensus: bool = False
) -> ExportRequest:
    """Leads and admins export everyone's annotations, and the consensus; anyone else on
    the team exports their own review annotations only (`Visibility.export_annotator`:
    the consensus is built from everyone's marks and notes, so it is for leads)."""
    if consensus:
        access.require_lead()
    run = resolve_run(session, access.project, run_name)
    own = visibility_of(access).export_annotator
    return ExportRequest(access.project.id, run.id, run.name, consensus, own)


@dataclass(frozen=True)
class _Context:
    """Read once, at the start of the stream: plain values that outlive the transaction."""

    columns: tuple[CauseColumn, ...]

    def header(self, consensus_rows: bool) -> list[str]:
        fields = CONSENSUS_FIELDS if consensus_rows else ANNOTATION_FIELDS
        return [*fields, *(CAUSE_PREFIX + c.name for c in self.columns)]


def _context(
    session: Session, project_id: int, run_id: int, annotator_id: int | None = None
) -> _Context:
    # The sheet's columns: live causes, and archived ones this run's annotations still use;
    # for an annotator's own export, archived ones their own reviews use (a column of a
    # cause only others marked would tell them of verdicts they may not see).
    columns = cause_columns(session, project_id, run_sums(session, run_id))
    if annotator_id is not None:
        theirs = own_causes(session, run_id, annotator_id)
        columns = tuple(c for c in columns if not c.archived or c.id in theirs)
    return _Context(columns)


# --- reading the run page by page -----------------------------------------------------


# Where the walk through the run stands: (placed, review_order, id) of the last error sent.
# Errors with a review position come first in that order, then the unplaced ones by id
# (as in the review queue).
Position = tuple[bool, int, int]


def _error_page(
    session: Session, run_id: int, after: Position | None, page_size: int
) -> Sequence[Any]:
    """The next errors under review after `after`, at most `page_size` of them.

    Keyset pages on (review_order, id) walk the run's review index; an OFFSET would
    re-read every earlier page and make the export quadratic.
    """
    base = (
        select(
            Prediction.id,
            Prediction.label,
            Prediction.confidence,
            Prediction.review_order,
            Sample.external_id,
            Sample.label.label("true_label"),
        )
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(Prediction.run_id == run_id, Prediction.in_review, Prediction.is_error)
        .limit(page_size)
    )
    placed = base.where(Prediction.review_order.is_not(None)).order_by(
        Prediction.review_order, Prediction.id
    )
    unplaced = base.where(Prediction.review_order.is_(None)).order_by(Prediction.id)
    page: Sequence[Any] = []
    if after is None:
        page = session.execute(placed).all()
    elif after[0]:
        _, position, last_id = after
        page = session.execute(
            placed.where(
                Prediction.review_order >= position,
                or_(
                    Prediction.review_order > position,
                    and_(Prediction.review_order == position, Prediction.id > last_id),
                ),
            )
        ).all()
    if after is None or after[0]:
        if page:
            return page
        after = (False, 0, 0)  # the placed errors are all sent: the unplaced ones follow
    return session.execute(unplaced.where(Prediction.id > after[2])).all()


def _position(row: Any) -> Position:
    if row.review_order is None:
        return (False, 0, row.id)
    return (True, row.review_order, row.id)


@dataclass(slots=True)
class _Annotation:
    mark: Mark
    username: str
    kind: AnnotationKind


def _annotations(
    session: Session, prediction_ids: list[int], annotator_id: int | None = None
) -> dict[int, list[_Annotation]]:
    """The page's annotations by prediction, each error's in the order they were made;
    only `annotator_id`'s own reviews when given (an adjudication is never "own")."""
    by_error: dict[int, list[_Annotation]] = defaultdict(list)
    for a, mark in annotations_of(session, prediction_ids):
        if annotator_id is not None and (
            a.annotator_id != annotator_id or a.kind is not AnnotationKind.REVIEW
        ):
            continue
        by_error[a.prediction_id].append(_Annotation(mark, a.username, a.kind))
    return by_error


def _error_row(
    prediction: Any, annotations: list[_Annotation], stored: StoredVerdict | None
) -> ErrorRow:
    """The sheet's row for one error: its stored status and consensus."""
    reviews = tuple(a.mark for a in annotations if a.kind is AnnotationKind.REVIEW)
    adjudication = next(
        (a.mark for a in annotations if a.kind is AnnotationKind.ADJUDICATION), None
    )
    # Only leads export the consensus (`request_export`): they see everything.
    return row_of(
        prediction, ErrorMarks(prediction.id, reviews, adjudication), stored, everything()
    )


class _CauseNames:
    """Names for cause ids; a cause created after the header was written is looked up
    once and listed in `causes`, though it has no 0/1 column of its own."""

    def __init__(self, columns: Sequence[CauseColumn]) -> None:
        self.columns = columns
        self.order = {c.id: i for i, c in enumerate(columns)}
        self.names = {c.id: c.name for c in columns}

    def listed(self, session: Session, cause_ids: frozenset[int]) -> list[str]:
        for cause_id in cause_ids - self.names.keys():
            self.names[cause_id] = session.get_one(Cause, cause_id).name
        ordered = sorted(cause_ids, key=lambda c: (self.order.get(c, len(self.order)), c))
        return [self.names[c] for c in ordered]

    def flags(self, cause_ids: frozenset[int]) -> dict[str, int]:
        return {CAUSE_PREFIX + c.name: int(c.id in cause_ids) for c in self.columns}


def _time(value: datetime) -> str:
    # Times are stored in UTC; written as the JSON API writes them (…Z).
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rows(
    session: Session,
    page: Sequence[Any],
    request: ExportRequest,
    context: _Context,
    names: _CauseNames,
) -> list[ExportRow]:
    annotations = _annotations(session, [p.id for p in page], request.annotator_id)
    verdicts = stored(session, [p.id for p in page]) if request.consensus else {}
    out: list[ExportRow] = []
    for prediction in page:
        base: ExportRow = {
            "sample_id": prediction.external_id,
            "label": prediction.true_label,
            "prediction": prediction.label,
            "confidence": prediction.confidence,
        }
        mine = annotations.get(prediction.id, [])
        if request.consensus:
            row = _error_row(prediction, mine, verdicts.get(prediction.id))
            out.append(
                base
                | {
                    "status": row.status.value,
                    "examined": row.examined,
                    "disagreement": row.disagreement,
                    "annotators": [a.username for a in mine if a.kind is AnnotationKind.REVIEW],
                    "label_error": row.label_error,
                    "suggested_label": row.suggested_label,
                    "note": row.note,
                    "causes": names.listed(session, row.causes),
                }
                | names.flags(row.causes)
            )
            continue
        for a in mine:
            m = a.mark
            out.append(
                base
                | {
                    "annotator": a.username,
                    "kind": a.kind.value,
                    "status": m.status.value,
                    "label_error": m.label_error,
                    "suggested_label": m.suggested_label,
                    "note": m.note,
                    "version": m.version,
                    "updated_at": _time(m.updated_at),
                    "causes": names.listed(session, m.causes),
                }
                | names.flags(m.causes)
            )
    return out


def pages(
    open_session: Callable[[], AbstractContextManager[Session]],
    request: ExportRequest,
    *,
    page_size: int = PAGE_SIZE,
) -> tuple[list[str], Iterator[list[ExportRow]]]:
    """The header and the rows, page by page: one row per (error, annotator), or with
    `request.consensus` one row per error under review with the sheet's verdict.

    Every read is a short transaction of its own (see the module's docstring).
    """
    with open_session() as session:
        context = _context(session, request.project_id, request.run_id, request.annotator_id)
    names = _CauseNames(context.columns)

    def rows() -> Iterator[list[ExportRow]]:
        after: Position | None = None
        while True:
            with open_session() as session:
                page = _error_page(session, request.run_id, after, page_size)
                if not page:
                    return
                out = _rows(session, page, request, context, names)
            # The session is closed before the page is handed on: nothing stays open
            # while the client reads it.
            if out:
                yield out
            after = _position(page[-1])

    return context.header(request.consensus), rows()


# --- encodings ----------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    # pandas.read_csv without options: booleans as 0/1 like the cause columns, lists
    # as JSON (unambiguous even when a name holds a comma or a '|'), None as empty.
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return inert_text(json.dumps(value, ensure_ascii=False))
    return inert(value)


def csv_chunks(header: list[str], rows: Iterator[list[ExportRow]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # The header holds cause names (`cause:<name>`): inert like the cells.
    writer.writerow([inert_text(name) for name in header])
    for page in rows:
        for row in page:
            writer.writerow([_csv_cell(row[name]) for name in header])
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    if out.tell():  # only the header: an empty run still gives a readable file
        yield out.getvalue().encode()


def _json_bytes(text: str) -> bytes:
    """JSON text as UTF-8. A lone surrogate (kept in metadata stored before such input
    was refused) only occurs inside a string, where backslashreplace writes it as the
    JSON escape `\\udxxx` it came as: the file stays valid JSON, the value as typed."""
    return text.encode("utf-8", "backslashreplace")


def jsonl_chunks(header: list[str], rows: Iterator[list[ExportRow]]) -> Iterator[bytes]:
    for page in rows:
        yield _json_bytes("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in page))


def json_chunks(header: list[str], rows: Iterator[list[ExportRow]]) -> Iterator[bytes]:
    """A JSON array written element by element: valid JSON once complete, never held whole."""
    yield b"["
    separator = "\n"
    for page in rows:
        parts = []
        for row in page:
            parts.append(separator + json.dumps(row, ensure_ascii=False))
            separator = ",\n"
        yield _json_bytes("".join(parts))
    yield b"\n]\n"


ENCODERS: dict[str, Callable[[list[str], Iterator[list[ExportRow]]], Iterator[bytes]]] = {
    "csv": csv_chunks,
    "jsonl": jsonl_chunks,
    "json": json_chunks,
}


def stream(
    open_session: Callable[[], AbstractContextManager[Session]],
    request: ExportRequest,
    fmt: str,
    *,
    page_size: int = PAGE_SIZE,
) -> Iterator[bytes]:
    """The export as bytes, read through sessions of its own.

    The request's session is committed and closed before a streamed body is sent, so
    the stream opens its own: one short read transaction per page.
    """
    header, rows = pages(open_session, request, page_size=page_size)
    yield from ENCODERS[fmt](header, rows)
