"""Each error's verdict: decided by one rule, stored, and kept current on every write.

`judge` is the rule: an error's status, its consensus once examined, and whether its
annotators disagree, from its annotations, the project's overlap and who leads it.
`refresh` applies it to exactly the errors a write touched and stores the result
(`ErrorVerdict`, `VerdictCause`) in the writer's own transaction, so every reader (the
sheet, its footer, the dashboard, the project page, the API, the exports) reads a page
of stored verdicts instead of recomputing a whole run.

The writers that call `refresh`: `review.annotations.save`, through which every save,
restore, undo, adjudication and cause merge goes; `projects.settings.update_project`
when the overlap changes (it moves what "done" means); and `projects.team` when a role
changes (a lead's vote breaks ties). A property test holds stored == recomputed.

This module sits beside `live` and `integrity` at the top of the domain because the
writers live in `projects` and `review` and the readers in `analysis`.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.domain.analysis.tally import AgreementSums, Verdict, Vote, consensus, disagree
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationKind,
    AnnotationStatus,
    ErrorVerdict,
    Membership,
    Prediction,
    Project,
    ProjectRole,
    Run,
    RunAnnotatorCauseVerdicts,
    RunAnnotatorVerdicts,
    RunCauseVerdicts,
    RunFacetCauseVerdicts,
    RunFacetVerdicts,
    RunVerdicts,
    Sample,
    User,
    VerdictCause,
)


class ErrorStatus(enum.StrEnum):
    QUEUED = "queued"  # nobody has opened it
    IN_PROGRESS = "in_progress"
    UNSURE = "unsure"
    SKIPPED = "skipped"
    PARTIAL = "partial"  # finished by fewer annotators than the project's overlap
    DONE = "done"
    ADJUDICATED = "adjudicated"


EXAMINED_STATUSES = frozenset({ErrorStatus.DONE, ErrorStatus.ADJUDICATED})

# A review annotation counts as finished (towards the overlap, the consensus, the
# agreement, and under blind review what its author may then see) in this status only:
# skipped and unsure give no verdict.
FINISHED = AnnotationStatus.DONE

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
    adjudication settles it, and how many annotators the project wants per error.

    An error is *examined* (done) when a lead's finished adjudication settles it, or when
    as many annotators as the overlap have finished it; only examined errors count."""
    if adjudicated:
        return ErrorStatus.ADJUDICATED
    statuses = list(review_statuses)
    finished = statuses.count(FINISHED)
    if finished >= overlap:
        return ErrorStatus.DONE
    if finished:
        return ErrorStatus.PARTIAL
    present = set(statuses)
    for annotation_status, status in _OPEN_STATUSES:
        if annotation_status in present:
            return status
    return ErrorStatus.QUEUED


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


def judge(
    marks: Sequence[Mark], adjudication: Mark | None, overlap: int, lead_ids: frozenset[int]
) -> tuple[ErrorStatus, Verdict | None, bool]:
    """An error's status, its consensus once examined, and whether its annotators disagree:
    the one rule, stored by `refresh` and read by every view of an error."""
    # Only a finished adjudication settles an error; a draft one leaves the vote standing.
    settled = (
        adjudication if adjudication and adjudication.status is AnnotationStatus.DONE else None
    )
    status = error_status(
        (m.status for m in marks), adjudicated=settled is not None, overlap=overlap
    )
    finished = [m.vote() for m in marks if m.status is FINISHED]
    verdict = (
        consensus(finished, lead_ids, settled.vote() if settled else None)
        if status in EXAMINED_STATUSES
        else None
    )
    return status, verdict, settled is None and disagree(finished)


def note_of(marks: Iterable[Mark], adjudication: Mark | None) -> str:
    """The notes shown for an error: the adjudication's first, then the reviews' in order."""
    return " | ".join(m.note for m in (adjudication, *marks) if m and m.note.strip())


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


def mark_of(row: Any, causes: Iterable[int]) -> Mark:
    """A Mark from a row of MARK_COLUMNS and the ids of the causes it marks."""
    return Mark(
        annotator_id=row.annotator_id,
        annotator=row.display_name or row.username,
        status=row.status,
        causes=frozenset(causes),
        label_error=row.label_error,
        suggested_label=row.suggested_label,
        note=row.note,
        version=row.version,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class ErrorMarks:
    """One error's annotations: the reviews in the order they were made, and the lead's
    adjudication if there is one."""

    prediction_id: int
    reviews: tuple[Mark, ...]
    adjudication: Mark | None


# Statements a refresh runs on every save, built once: building a statement and its
# cache key costs more than SQLite takes to run it.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_ANNOTATIONS = (
    select(*MARK_COLUMNS)
    .join(User, User.id == Annotation.annotator_id)
    .where(Annotation.prediction_id.in_(_IDS))
    .order_by(Annotation.id)
)
# By the annotations' own ids, read first: joined to `annotation` by prediction,
# PostgreSQL's planner takes a scan of every cause mark of the project for cheaper than
# 150 index lookups (11 ms at 10,000 errors for a page of 50).
_ANNOTATION_CAUSES = select(AnnotationCause.annotation_id, AnnotationCause.cause_id).where(
    AnnotationCause.annotation_id.in_(_IDS)
)


def annotations_of(session: Session, prediction_ids: Sequence[int]) -> list[tuple[Any, Mark]]:
    """Every annotation of these errors in the order they were made: its row of
    MARK_COLUMNS (kind, names...) and its Mark (two queries)."""
    if not prediction_ids:
        return []
    db = session.connection()
    ids = {"ids": list(prediction_ids)}
    annotations = db.execute(_ANNOTATIONS, ids).all()
    marked: dict[int, set[int]] = defaultdict(set)
    if annotations:
        for annotation_id, cause_id in db.execute(
            _ANNOTATION_CAUSES, {"ids": [a.id for a in annotations]}
        ):
            marked[annotation_id].add(cause_id)
    return [(a, mark_of(a, marked.get(a.id, ()))) for a in annotations]


def marks_of(session: Session, prediction_ids: Sequence[int]) -> dict[int, ErrorMarks]:
    """The annotations of these errors, by error; errors nobody annotated are absent."""
    reviews: dict[int, list[Mark]] = defaultdict(list)
    adjudications: dict[int, Mark] = {}
    for a, mark in annotations_of(session, prediction_ids):
        if a.kind is AnnotationKind.ADJUDICATION:
            adjudications[a.prediction_id] = mark
        else:
            reviews[a.prediction_id].append(mark)
    return {
        pid: ErrorMarks(pid, tuple(reviews.get(pid, ())), adjudications.get(pid))
        for pid in sorted(set(reviews) | set(adjudications))
    }


# The project's overlap beside each of its leads (one row with no lead if it has none).
_RULES = (
    select(Project.overlap, Membership.user_id)
    .outerjoin(
        Membership,
        and_(Membership.project_id == Project.id, Membership.role == ProjectRole.LEAD),
    )
    .where(Project.id == bindparam("project_id"))
)


def rules_of(session: Session, project_id: int) -> tuple[int, frozenset[int]]:
    """What `judge` follows in a project: its overlap, and whose vote settles a tie (see
    `tally.consensus`): one query, as a save reads them on every refresh."""
    rows = session.connection().execute(_RULES, {"project_id": project_id}).all()
    overlap = rows[0].overlap if rows else None
    return overlap or 1, frozenset(r.user_id for r in rows if r.user_id is not None)


# --- what is stored -----------------------------------------------------------------


@dataclass(frozen=True)
class CauseCounts:
    cause_id: int
    chosen: bool  # in the consensus
    votes: int  # review annotations marking it, any status
    marks: int  # finished review annotations marking it


@dataclass(frozen=True)
class StoredVerdict:
    """One error's row of `error_verdict` with its `verdict_cause` rows, as values."""

    prediction_id: int
    run_id: int
    status: ErrorStatus
    label_error: bool
    suggested_label: str | None
    disagreement: bool
    finished: int
    label_error_marks: int
    note: str
    causes: tuple[CauseCounts, ...]  # by cause id

    @property
    def examined(self) -> bool:
        return self.status in EXAMINED_STATUSES

    @property
    def chosen(self) -> frozenset[int]:
        return frozenset(c.cause_id for c in self.causes if c.chosen)

    @property
    def consensus(self) -> Verdict | None:
        """The verdict that counts, once the error is examined."""
        return (
            Verdict(self.chosen, self.label_error, self.suggested_label) if self.examined else None
        )


def verdict_of(
    error: ErrorMarks, run_id: int, overlap: int, lead_ids: frozenset[int]
) -> StoredVerdict:
    """What is stored for one annotated error, by `judge`."""
    status, verdict, disagreement = judge(error.reviews, error.adjudication, overlap, lead_ids)
    finished = [m for m in error.reviews if m.status is FINISHED]
    chosen = verdict.causes if verdict else frozenset()
    marked = set(chosen)
    for mark in (*error.reviews, *((error.adjudication,) if error.adjudication else ())):
        marked |= mark.causes
    return StoredVerdict(
        prediction_id=error.prediction_id,
        run_id=run_id,
        status=status,
        label_error=verdict.label_error if verdict else False,
        suggested_label=verdict.suggested_label if verdict else None,
        disagreement=disagreement,
        finished=len(finished),
        label_error_marks=sum(1 for m in finished if m.label_error),
        note=note_of(error.reviews, error.adjudication),
        causes=tuple(
            CauseCounts(
                cause_id=c,
                chosen=c in chosen,
                votes=sum(1 for m in error.reviews if c in m.causes),
                marks=sum(1 for m in finished if c in m.causes),
            )
            for c in sorted(marked)
        ),
    )


def recompute(session: Session, prediction_ids: Iterable[int]) -> dict[int, StoredVerdict]:
    """The verdicts of these errors worked out from their annotations now, by `judge`."""
    ids = sorted(set(prediction_ids))
    result: dict[int, StoredVerdict] = {}
    for start in range(0, len(ids), _CHUNK):
        result.update(_recompute(session, ids[start : start + _CHUNK], lock=False))
    return result


_STORED = (
    select(
        *ErrorVerdict.__table__.c,
        VerdictCause.cause_id,
        VerdictCause.chosen,
        VerdictCause.votes,
        VerdictCause.marks,
    )
    .outerjoin(VerdictCause, VerdictCause.prediction_id == ErrorVerdict.prediction_id)
    .where(ErrorVerdict.prediction_id.in_(_IDS))
    .order_by(ErrorVerdict.prediction_id, VerdictCause.cause_id)
)


def stored(session: Session, prediction_ids: Iterable[int]) -> dict[int, StoredVerdict]:
    """The verdicts of these errors as stored (absent: no annotation, nothing stored)."""
    ids = sorted(set(prediction_ids))
    db = session.connection()
    result: dict[int, StoredVerdict] = {}
    for start in range(0, len(ids), _CHUNK):
        result.update(_stored_of(db.execute(_STORED, {"ids": ids[start : start + _CHUNK]})))
    return result


def _stored_of(rows: Iterable[Any]) -> dict[int, StoredVerdict]:
    """StoredVerdicts from rows of `_STORED` (a verdict's columns and one of its causes,
    by prediction and cause)."""
    result: dict[int, StoredVerdict] = {}
    counts: dict[int, list[CauseCounts]] = defaultdict(list)
    verdicts: dict[int, Any] = {}
    for v in rows:
        verdicts.setdefault(v.prediction_id, v)
        if v.cause_id is not None:
            counts[v.prediction_id].append(CauseCounts(v.cause_id, v.chosen, v.votes, v.marks))
    for pid, v in verdicts.items():
        result[pid] = StoredVerdict(
            prediction_id=v.prediction_id,
            run_id=v.run_id,
            status=ErrorStatus(v.status),
            label_error=v.label_error,
            suggested_label=v.suggested_label,
            disagreement=v.disagreement,
            finished=v.finished,
            label_error_marks=v.label_error_marks,
            note=v.note,
            causes=tuple(counts.get(pid, ())),
        )
    return result


# --- keeping it current -------------------------------------------------------------

_CHUNK = 500
_BATCH = "eyeball.verdicts.batch"


def refresh(session: Session, prediction_ids: Iterable[int]) -> None:
    """Store the verdicts of these errors anew, in the session's transaction.

    Inside `batch(session)` the errors are only collected and refreshed once at its end,
    so a merge of thousands of annotations judges each error once.
    """
    pending: set[int] | None = session.info.get(_BATCH)
    if pending is not None:
        pending.update(prediction_ids)
        return
    ids = sorted(set(prediction_ids))
    if not ids:
        return
    session.flush()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        _store(session, chunk, _recompute(session, chunk, lock=True))


@contextmanager
def batch(session: Session) -> Iterator[None]:
    """Collect the errors refreshed inside the block and refresh them together at its end."""
    if _BATCH in session.info:  # already collecting: the outer block refreshes
        yield
        return
    pending: set[int] = set()
    session.info[_BATCH] = pending
    try:
        yield
    finally:
        del session.info[_BATCH]
    refresh(session, pending)


def refresh_project(session: Session, project_id: int) -> None:
    """Every annotated error of the project: its overlap changed."""
    refresh(
        session,
        session.scalars(
            select(Annotation.prediction_id).distinct().where(Annotation.project_id == project_id)
        ),
    )


def refresh_annotator(session: Session, project_id: int, user_id: int) -> None:
    """The errors one person annotated in the project: their role changed, and a lead's
    vote breaks ties."""
    refresh(
        session,
        session.scalars(
            select(Annotation.prediction_id)
            .distinct()
            .where(Annotation.project_id == project_id, Annotation.annotator_id == user_id)
        ),
    )


_PREDICTIONS = select(Prediction.id, Prediction.run_id, Prediction.project_id).where(
    Prediction.id.in_(_IDS)
)


def _recompute(session: Session, ids: Sequence[int], *, lock: bool) -> dict[int, StoredVerdict]:
    # A save has its prediction loaded: read where it belongs from the session rather
    # than the database (every statement counts while SQLite's write lock is held).
    predictions: list[tuple[int, int, int]] = []
    missing: list[int] = []
    for pid in ids:
        loaded = session.identity_map.get(session.identity_key(Prediction, pid))
        if isinstance(loaded, Prediction):
            predictions.append((loaded.id, loaded.run_id, loaded.project_id))
        else:
            missing.append(pid)
    if missing:
        rows = session.connection().execute(_PREDICTIONS, {"ids": missing})
        predictions.extend((p.id, p.run_id, p.project_id) for p in rows)
    predictions.sort()
    # SQLite has one writer at a time (BEGIN IMMEDIATE): nothing to lock.
    if lock and session.get_bind().dialect.name == "postgresql":
        # On PostgreSQL, writers of one run's verdicts take turns from here to their
        # commit: the second of two annotators saving the same error waits, then reads
        # both annotations, so neither stores a verdict that misses the other's; and the
        # run's sums are only added to by one at a time. Runs are locked in id order, and
        # before anything else a refresh locks, so two writers never wait for each other.
        # (NO KEY UPDATE: inserting predictions, which only reference the run, goes on.)
        runs = sorted({run_id for _, run_id, _ in predictions})
        session.connection().execute(
            select(Run.id).where(Run.id.in_(runs)).order_by(Run.id).with_for_update(key_share=True)
        )
    errors = marks_of(session, ids)
    rules: dict[int, tuple[int, frozenset[int]]] = {}
    result: dict[int, StoredVerdict] = {}
    for prediction_id, run_id, project_id in predictions:
        error = errors.get(prediction_id)
        if error is None:
            continue
        if project_id not in rules:
            # Read after the lock, not from the session: an overlap change committed
            # meanwhile is what this verdict must follow.
            rules[project_id] = rules_of(session, project_id)
        overlap, leads = rules[project_id]
        result[prediction_id] = verdict_of(error, run_id, overlap, leads)
    return result


_DELETE_VERDICTS = delete(ErrorVerdict).where(ErrorVerdict.prediction_id.in_(_IDS))
_INSERT_VERDICTS = insert(ErrorVerdict)
_INSERT_VERDICT_CAUSES = insert(VerdictCause)


def _store(session: Session, ids: Sequence[int], verdicts: dict[int, StoredVerdict]) -> None:
    change = RunChange()
    # An error's facets are its sample's and prediction's, which only an import changes
    # (and then counts the facets again): the same before and after.
    facets: Mapping[int, list[Facet]]
    if session.info.get(_NO_FACETS):
        before, facets = stored(session, ids), {}
    else:
        before, facets = stored_with_facets(session, ids)
    for old in before.values():
        change.add(old, -1, facets.get(old.prediction_id, ()))
    for new in verdicts.values():
        change.add(new, +1, facets.get(new.prediction_id, ()))
    change.apply(session)
    db = session.connection()
    # The verdicts' cause rows go with them (ON DELETE CASCADE).
    db.execute(_DELETE_VERDICTS, {"ids": list(ids)})
    if not verdicts:
        return
    db.execute(
        _INSERT_VERDICTS,
        [
            {
                "prediction_id": v.prediction_id,
                "run_id": v.run_id,
                "status": v.status.value,
                "examined": v.examined,
                "label_error": v.label_error,
                "suggested_label": v.suggested_label,
                "disagreement": v.disagreement,
                "cause_count": len(v.chosen),
                "finished": v.finished,
                "label_error_marks": v.label_error_marks,
                "note": v.note,
            }
            for v in verdicts.values()
        ],
    )
    causes = [
        {
            "prediction_id": v.prediction_id,
            "cause_id": c.cause_id,
            "run_id": v.run_id,
            "chosen": c.chosen,
            "votes": c.votes,
            "marks": c.marks,
        }
        for v in verdicts.values()
        for c in v.causes
    ]
    if causes:
        db.execute(_INSERT_VERDICT_CAUSES, causes)


def rebuild(session: Session, *, facets: bool = True) -> int:
    """Store every annotated error's verdict from scratch (the migration's backfill, and a
    repair). Returns how many errors have a verdict. `facets=False`: leave the facets'
    sums alone (revision 0002, whose schema has none yet)."""
    ids = list(session.scalars(select(Annotation.prediction_id).distinct()))
    db = session.connection()
    for table in (VerdictCause, ErrorVerdict, RunCauseVerdicts, RunVerdicts):
        db.execute(delete(table))
    session.info[_NO_FACETS] = not facets
    try:
        refresh(session, ids)
    finally:
        del session.info[_NO_FACETS]
    if facets:
        recount_facets(session)
    return len(ids)


# --- a run's verdicts added up --------------------------------------------------------
#
# Every error's verdict adds to its run's sums (`RunVerdicts`, `RunCauseVerdicts`); a
# refresh subtracts the errors' old verdicts and adds their new ones, in the same
# transaction. Only errors under review are annotated (a save refuses the rest, and an
# import never takes an error out of review), so the sums are those of the sheet's rows.

_STATUS_COLUMNS = {status: status.value for status in ErrorStatus}
_CAUSE_FIELDS = ("used", "chosen", "errors", "values", "coincidences", "marks", "unanimous")
_RUN_FIELDS = (
    *_STATUS_COLUMNS.values(),
    "label_errors",
    "pair_errors",
    "pair_values",
    "label_coincidences",
    "label_marks",
    "label_unanimous",
)


def _coincidences(marks: int, voters: int) -> float:
    return marks * (voters - marks) / (voters - 1)


def _verdict_amounts(v: StoredVerdict) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """What one stored verdict adds to the sums it counts in: to the run's (or a facet's)
    fields, and to each of its causes' fields."""
    run = dict.fromkeys(_RUN_FIELDS, 0.0)
    run[_STATUS_COLUMNS[v.status]] = 1
    run["label_errors"] = int(v.examined and v.label_error)
    m, flags = v.finished, v.label_error_marks
    if m >= 2:
        run["pair_errors"] = 1
        run["pair_values"] = m
        run["label_coincidences"] = _coincidences(flags, m)
        run["label_marks"] = flags
        run["label_unanimous"] = int(flags in (0, m))
    causes: dict[int, dict[str, float]] = {}
    for c in v.causes:
        cause = causes[c.cause_id] = dict.fromkeys(_CAUSE_FIELDS, 0.0)
        cause["used"] = 1
        cause["chosen"] = int(c.chosen and v.examined)
        if m >= 2 and c.marks > 0:
            cause["errors"] = 1
            cause["values"] = m
            cause["coincidences"] = _coincidences(c.marks, m)
            cause["marks"] = c.marks
            cause["unanimous"] = int(c.marks == m)
    return run, causes


def _plus(target: dict[str, float], amounts: Mapping[str, float], sign: int) -> None:
    for name, amount in amounts.items():
        if amount:
            target[name] += sign * amount


@dataclass
class RunChange:
    """How refreshed verdicts change their runs' sums: run id -> field -> amount,
    (run id, cause id) -> field -> amount, and the same per facet of the run."""

    runs: dict[int, dict[str, float]] = field(default_factory=dict)
    causes: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    facets: dict[tuple[int, str, str, str], dict[str, float]] = field(default_factory=dict)
    facet_causes: dict[tuple[int, str, str, str, int], dict[str, float]] = field(
        default_factory=dict
    )

    def add(self, v: StoredVerdict, sign: int, facets: Iterable[Facet] = ()) -> None:
        """Add (`sign` +1) or take away (-1) one verdict, in its run and in `facets`,
        the facets its error belongs to."""
        run, causes = _verdict_amounts(v)
        facets = list(facets)
        _plus(self.runs.setdefault(v.run_id, dict.fromkeys(_RUN_FIELDS, 0)), run, sign)
        for facet in facets:
            key = (v.run_id, *facet)
            _plus(self.facets.setdefault(key, dict.fromkeys(_RUN_FIELDS, 0)), run, sign)
        for cause_id, amounts in causes.items():
            key_c = (v.run_id, cause_id)
            _plus(self.causes.setdefault(key_c, dict.fromkeys(_CAUSE_FIELDS, 0)), amounts, sign)
            for facet in facets:
                key_f = (v.run_id, *facet, cause_id)
                target = self.facet_causes.setdefault(key_f, dict.fromkeys(_CAUSE_FIELDS, 0))
                _plus(target, amounts, sign)

    def apply(self, session: Session) -> None:
        """Add the change to the stored sums: one upsert per table for the rows touched,
        adding to what is there, so concurrent writers each add their own."""
        runs = [{"run_id": r, **a} for r, a in self.runs.items() if any(a.values())]
        causes = [
            {"run_id": r, "cause_id": c, **a}
            for (r, c), a in self.causes.items()
            if any(a.values())
        ]
        facets = [
            {"run_id": r, "facet": f, "key": k, "value": v, **a}
            for (r, f, k, v), a in self.facets.items()
            if any(a.values())
        ]
        facet_causes = [
            {"run_id": r, "facet": f, "key": k, "value": v, "cause_id": c, **a}
            for (r, f, k, v, c), a in self.facet_causes.items()
            if any(a.values())
        ]
        rows: tuple[list[dict[str, Any]], ...] = (runs, causes, facets, facet_causes)
        if session.get_bind().dialect.name == "postgresql":
            touched = tuple(bool(changed) for changed in rows)
            if any(touched):
                session.connection().execute(
                    _pg_sums_upsert(touched),
                    {
                        table.__tablename__: _as_json(table, fields, changed)
                        for (table, _, fields), changed in zip(_SUMS, rows, strict=True)
                        if changed
                    },
                )
            return
        for (table, key, fields), changed in zip(_SUMS, rows, strict=True):
            _add(session, table, key, fields, changed)


_PG_SUMS_UPSERTS: dict[tuple[bool, ...], Any] = {}


def _pg_sums_upsert(touched: tuple[bool, ...]) -> Any:
    """On PostgreSQL, the upserts of the `_SUMS` tables `touched` as one statement
    (data-modifying CTEs, each table's rows handed over as JSON): a save makes one round
    trip for them instead of four, inside the run's lock, where every other save to the
    run waits. Only the tables touched: revision 0002's backfill runs this on a schema
    without the facets' tables. Built once per combination."""
    found = _PG_SUMS_UPSERTS.get(touched)
    if found is not None:
        return found
    upserts = []
    for (table, key, fields), wanted in zip(_SUMS, touched, strict=True):
        if not wanted:
            continue
        columns = [table.__table__.c[name] for name in (*key, *fields)]
        given = (
            func.json_to_recordset(bindparam(table.__tablename__, type_=postgresql.JSON))
            .table_valued(*(column(c.name, c.type) for c in columns))
            .render_derived(name="given", with_types=True)
        )
        # A new row's other columns take their defaults (a facet's `errors`: 0), which
        # an INSERT ... SELECT inside a CTE does not add by itself.
        named = {c.name for c in columns}
        defaults = [
            c
            for c in table.__table__.c
            if c.name not in named and c.default is not None and c.default.is_scalar
        ]
        insert_given = postgresql.insert(table).from_select(
            [*(c.name for c in columns), *(c.name for c in defaults)],
            select(*given.c, *(literal(c.default.arg, c.type) for c in defaults)),
        )
        upsert = insert_given.on_conflict_do_update(
            index_elements=key,
            set_={name: table.__table__.c[name] + insert_given.excluded[name] for name in fields},
        )
        upserts.append(upsert.cte(f"add_{table.__tablename__}"))
    statement = _PG_SUMS_UPSERTS[touched] = select(literal(1)).add_cte(*upserts)
    return statement


def _as_json(
    table: Any, fields: Sequence[str], rows: Sequence[Mapping[str, object]]
) -> list[dict[str, object]]:
    """Rows for `_pg_sums_upsert`: JSON's 1.0 is no integer to PostgreSQL, so the amounts of
    integer columns (added up as floats) go as integers."""
    integers = {f for f in fields if isinstance(table.__table__.c[f].type, Integer)}
    return [
        {k: int(v) if k in integers and isinstance(v, float) else v for k, v in row.items()}
        for row in rows
    ]


def _add(
    session: Session,
    table: Any,
    key: list[str],
    fields: Sequence[str],
    rows: Sequence[Mapping[str, object]],
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get((dialect, table.__tablename__))
    if statement is None:
        statement = _upsert(dialect, table, key, fields)
        _UPSERTS[(dialect, table.__tablename__)] = statement
    session.connection().execute(statement, rows)


# Built once per table: building an upsert of many columns, and its cache key, costs a
# save more than running it.
_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, table: Any, key: list[str], fields: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET field = field + new, for each field."""
    upsert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = table.__table__.c
    statement = upsert(table)
    return statement.on_conflict_do_update(
        index_elements=key,
        set_={name: columns[name] + statement.excluded[name] for name in fields},
    )


@dataclass(frozen=True)
class RunSums:
    """A run's stored sums, as values (see `RunVerdicts`)."""

    statuses: dict[ErrorStatus, int]
    label_errors: int
    label: AgreementSums  # over errors finished by two or more
    causes: dict[int, tuple[int, int, AgreementSums]]  # cause id -> used, chosen, sums

    @property
    def examined(self) -> int:
        return sum(self.statuses[s] for s in EXAMINED_STATUSES)


# The run's sums beside each of its causes' (one row with no cause when none is stored),
# from the run itself, so a run with nothing stored still gives its row. Read by every
# view of a run: one round trip where two were.
_RUN_SUMS = (
    select(
        RunVerdicts.run_id.label("sums_of"),
        *(c for c in RunVerdicts.__table__.c if c.name != "run_id"),
        *(c for c in RunCauseVerdicts.__table__.c if c.name != "run_id"),
    )
    .select_from(Run)
    .outerjoin(RunVerdicts, RunVerdicts.run_id == Run.id)
    .outerjoin(RunCauseVerdicts, RunCauseVerdicts.run_id == Run.id)
    .where(Run.id == bindparam("run_id"))
)


def run_sums(session: Session, run_id: int) -> RunSums:
    """The stored sums of one run (one query: a row per cause)."""
    rows = session.connection().execute(_RUN_SUMS, {"run_id": run_id}).all()
    row = rows[0] if rows and rows[0].sums_of is not None else None
    return _sums_of(row, [r for r in rows if r.cause_id is not None])


def _sums_of(row: Any, cause_rows: Iterable[Any]) -> RunSums:
    """RunSums from a row of `VerdictSums` (None: nothing stored) and `CauseVerdictSums`."""
    causes = {
        c.cause_id: (
            c.used,
            c.chosen,
            AgreementSums(c.coincidences, c.marks, c.values, c.errors, c.unanimous),
        )
        for c in cause_rows
    }
    if row is None:
        return RunSums(dict.fromkeys(ErrorStatus, 0), 0, AgreementSums(0.0, 0, 0, 0, 0), causes)
    return RunSums(
        statuses={s: getattr(row, column) for s, column in _STATUS_COLUMNS.items()},
        label_errors=row.label_errors,
        label=AgreementSums(
            row.label_coincidences,
            row.label_marks,
            row.pair_values,
            row.pair_errors,
            row.label_unanimous,
        ),
        causes=causes,
    )


# --- a run's verdicts added up per facet ---------------------------------------------
#
# A facet is what a sheet filter of one thing matches: a true label, a predicted label,
# a metadata value (`RunFacetVerdicts`). Each verdict adds to its run's sums and to
# those of each of its error's facets, in the same refresh; so the footer of a sheet
# filtered by one label or one metadata value reads a row, not the slice.

# (facet, key, value): ("label", "", "cat"), ("predicted", "", "dog"), ("meta", "time",
# "night"); a metadata value as the filter's text of it (`metadata.meta_each`).
Facet = tuple[str, str, str]
_FACET_KEY = ["run_id", "facet", "key", "value"]
_NO_FACETS = "verdicts.no_facets"  # a session.info key: `rebuild(facets=False)`

# The stored sums a refresh moves: each table, its key, the fields it adds to.
_SUMS: tuple[tuple[Any, list[str], tuple[str, ...]], ...] = (
    (RunVerdicts, ["run_id"], _RUN_FIELDS),
    (RunCauseVerdicts, ["run_id", "cause_id"], _CAUSE_FIELDS),
    (RunFacetVerdicts, _FACET_KEY, _RUN_FIELDS),
    (RunFacetCauseVerdicts, [*_FACET_KEY, "cause_id"], _CAUSE_FIELDS),
)
# Longer keys and values (a caption, a file path) are not stored as facets: the footer
# of such a filter sums its slice instead.
FACET_LENGTH = 255


def fits(key: str, value: str) -> bool:
    """Whether a facet of this key and value is stored (both short enough)."""
    return len(key) <= FACET_LENGTH and len(value) <= FACET_LENGTH


def _facet_rows(dialect: str, errors: ColumnElement[bool]) -> Any:
    """The facets of the errors `errors` keeps, as (id, facet, key, value) rows: the one
    definition a save's refresh and an import's count both read."""
    # Imported here: the metadata module reads the review status, which reads this one.
    from app.domain.analysis.metadata import meta_each

    with_sample = (
        select()
        .select_from(Prediction)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(errors)
    )
    each, key, value, conditions = meta_each(dialect)
    return union_all(
        with_sample.add_columns(
            Prediction.id,
            literal("label").label("facet"),
            literal("").label("key"),
            cast(Sample.label, String).label("value"),
        ),
        with_sample.add_columns(
            Prediction.id, literal("predicted"), literal(""), cast(Prediction.label, String)
        ),
        with_sample.add_columns(
            Prediction.id, literal("meta"), cast(key, String), cast(value, String)
        )
        .join(each, literal(True))
        .where(*conditions),
    )


# Built once per dialect: a save runs it, and building it costs more than running it.
_FACETS: dict[str, Any] = {}


def facets_of(session: Session, prediction_ids: Sequence[int]) -> dict[int, list[Facet]]:
    """The facets each of these errors belongs to (one query a chunk)."""
    dialect = session.get_bind().dialect.name
    statement = _FACETS.get(dialect)
    if statement is None:
        statement = _FACETS[dialect] = _facet_rows(dialect, Prediction.id.in_(_IDS))
    db = session.connection()
    result: dict[int, list[Facet]] = defaultdict(list)
    ids = sorted(set(prediction_ids))
    for start in range(0, len(ids), _CHUNK):
        for pid, kind, name, text in db.execute(statement, {"ids": ids[start : start + _CHUNK]}):
            if name is not None and text is not None and fits(name, text):
                result[pid].append((kind, name, text))
    return result


# A refresh's one read of what its errors counted in before: their stored verdicts
# (`_STORED`'s rows, no facet) and their facets (a row each, nothing else), one round
# trip where two were. Built once per dialect, as `_FACETS` is.
_STORED_WITH_FACETS: dict[str, Any] = {}


def stored_with_facets(
    session: Session, prediction_ids: Sequence[int]
) -> tuple[dict[int, StoredVerdict], dict[int, list[Facet]]]:
    """`stored` and `facets_of` of these errors (at most `_CHUNK`), in one query."""
    dialect = session.get_bind().dialect.name
    statement = _STORED_WITH_FACETS.get(dialect)
    if statement is None:
        facets = _facet_rows(dialect, Prediction.id.in_(_IDS)).subquery()
        columns = _STORED.selected_columns
        nothing = {c.name: cast(None, c.type).label(c.name) for c in columns}
        facet_columns = ("facet", "key", "value")
        verdicts = _STORED.order_by(None).add_columns(
            *(cast(None, String).label(name) for name in facet_columns)
        )
        facet_rows = select(
            facets.c.id.label("prediction_id"),
            *(nothing[c.name] for c in columns if c.name != "prediction_id"),
            *(facets.c[name] for name in facet_columns),
        )
        statement = _STORED_WITH_FACETS[dialect] = union_all(verdicts, facet_rows)
    rows = session.connection().execute(statement, {"ids": list(prediction_ids)}).all()
    result: dict[int, list[Facet]] = defaultdict(list)
    for r in rows:
        if (
            r.facet is not None
            and r.key is not None
            and r.value is not None
            and fits(r.key, r.value)
        ):
            result[r.prediction_id].append((r.facet, r.key, r.value))
    verdict_rows = sorted(
        (r for r in rows if r.facet is None), key=lambda r: (r.prediction_id, r.cause_id or 0)
    )
    return _stored_of(verdict_rows), result


@dataclass(frozen=True)
class FacetSums:
    """One facet's stored sums: its errors under review, and the sums of their verdicts."""

    errors: int
    sums: RunSums


def facet_sums(session: Session, run_id: int, facet: Facet) -> FacetSums:
    """The stored sums of one facet of a run (two queries of a row, and a row per cause)."""
    kind, key, value = facet
    where = {"run_id": run_id, "facet": kind, "key": key, "value": value}
    row = (
        session.connection()
        .execute(select(*RunFacetVerdicts.__table__.c).filter_by(**where))
        .one_or_none()
    )
    causes = session.connection().execute(
        select(*RunFacetCauseVerdicts.__table__.c).filter_by(**where)
    )
    return FacetSums(row.errors if row is not None else 0, _sums_of(row, causes))


def _facet_errors(session: Session, run_id: int) -> Counter[tuple[int, str, str, str]]:
    """How many errors under review each facet of a run has (one grouped query)."""
    # The sheet's rows (`review.status.is_under_review`, which imports this module).
    rows = and_(Prediction.run_id == run_id, Prediction.in_review, Prediction.is_error)
    facets = _facet_rows(session.get_bind().dialect.name, rows).subquery()
    kind, key, value = facets.c.facet, facets.c.key, facets.c.value
    counts: Counter[tuple[int, str, str, str]] = Counter()
    for name, label, text, n in session.connection().execute(
        select(kind, key, value, func.count()).group_by(kind, key, value)
    ):
        if label is not None and text is not None and fits(label, text):
            counts[(run_id, name, label, text)] = n
    return counts


def _runs(session: Session, run_ids: Iterable[int] | None) -> list[int]:
    return list(session.scalars(select(Run.id))) if run_ids is None else sorted(set(run_ids))


def count_facet_errors(session: Session, run_ids: Iterable[int]) -> None:
    """Store how many errors under review each facet of these runs has: by an import that
    adds errors to a run but moves no verdict between facets (no sample's metadata
    changed)."""
    session.flush()
    db = session.connection()
    dialect = session.get_bind().dialect.name
    upsert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = upsert(RunFacetVerdicts)
    statement = statement.on_conflict_do_update(
        index_elements=_FACET_KEY, set_={"errors": statement.excluded.errors}
    )
    for run_id in _runs(session, run_ids):
        counts = _facet_errors(session, run_id)
        rows = [
            {**dict(zip(_FACET_KEY, key, strict=True)), "errors": n} for key, n in counts.items()
        ]
        for start in range(0, len(rows), _CHUNK):
            db.execute(statement, rows[start : start + _CHUNK])


def recount_facets(session: Session, run_ids: Iterable[int] | None = None) -> None:
    """Count the facets of these runs (default: every run) again, from their errors under
    review and their stored verdicts: by an import that gives a sample new metadata
    (moving its errors' verdicts between facets), by the migration's backfill and by
    `rebuild`.

    An error's share of its facets' sums depends only on a few of its verdict's values
    (its status, label flags and finished count; for a cause, whether it is chosen and
    how many marked it), so the database counts the errors of each facet by those values
    and each such group is added as one verdict times its count: `_verdict_amounts`
    stays the one definition of what a verdict adds. (Adding up each error's verdict in
    each of its facets one by one took 4 s for 10,000 annotated errors, inside the
    import's write.)
    """
    session.flush()
    db = session.connection()
    runs = _runs(session, run_ids)
    if runs and session.get_bind().dialect.name == "postgresql":
        # As `_recompute` does: a save to these runs waits from here to the commit, so
        # none adds its verdict's change to a facet between this read and this write.
        db.execute(
            select(Run.id).where(Run.id.in_(runs)).order_by(Run.id).with_for_update(key_share=True)
        )
    for run_id in runs:
        db.execute(delete(RunFacetCauseVerdicts).where(RunFacetCauseVerdicts.run_id == run_id))
        db.execute(delete(RunFacetVerdicts).where(RunFacetVerdicts.run_id == run_id))
        sums, cause_sums = _facet_sums_of_run(session, run_id)
        rows = [
            {
                **dict(zip(_FACET_KEY, key, strict=True)),
                **dict.fromkeys(_RUN_FIELDS, 0),
                **sums.get(key, {}),
                "errors": n,
            }
            for key, n in _facet_errors(session, run_id).items()
        ]
        cause_rows = [
            {**dict(zip([*_FACET_KEY, "cause_id"], key, strict=True)), **a}
            for key, a in cause_sums.items()
            if any(a.values())
        ]
        for start in range(0, len(rows), _CHUNK):
            db.execute(insert(RunFacetVerdicts), rows[start : start + _CHUNK])
        for start in range(0, len(cause_rows), _CHUNK):
            db.execute(insert(RunFacetCauseVerdicts), cause_rows[start : start + _CHUNK])


def _facet_sums_of_run(
    session: Session, run_id: int
) -> tuple[
    dict[tuple[int, str, str, str], dict[str, float]],
    dict[tuple[int, str, str, str, int], dict[str, float]],
]:
    """The sums of each facet of a run, and of each cause within each, from its stored
    verdicts (see `recount_facets`)."""
    dialect = session.get_bind().dialect.name
    facets = _facet_rows(dialect, Prediction.run_id == run_id).subquery()
    kind, key, value = facets.c.facet, facets.c.key, facets.c.value
    v = ErrorVerdict.__table__.c
    shape = (v.status, v.label_error, v.finished, v.label_error_marks)
    of_run = (
        select().select_from(facets).join(ErrorVerdict.__table__, v.prediction_id == facets.c.id)
    )
    db = session.connection()
    sums: dict[tuple[int, str, str, str], dict[str, float]] = {}
    for name, label, text, status, label_error, finished, flags, n in db.execute(
        of_run.add_columns(kind, key, value, *shape, func.count())
        .where(v.run_id == run_id)
        .group_by(kind, key, value, *shape)
    ):
        if label is None or text is None or not fits(label, text):
            continue
        run, _causes = _verdict_amounts(_shaped(run_id, status, label_error, finished, flags))
        _plus(sums.setdefault((run_id, name, label, text), dict.fromkeys(_RUN_FIELDS, 0)), run, n)
    c = VerdictCause.__table__.c
    cause_shape = (v.status, v.finished, c.cause_id, c.chosen, c.marks)
    cause_sums: dict[tuple[int, str, str, str, int], dict[str, float]] = {}
    for name, label, text, status, finished, cause_id, chosen, marks, n in db.execute(
        of_run.join(VerdictCause.__table__, c.prediction_id == v.prediction_id)
        .add_columns(kind, key, value, *cause_shape, func.count())
        .where(v.run_id == run_id, c.run_id == run_id)
        .group_by(kind, key, value, *cause_shape)
    ):
        if label is None or text is None or not fits(label, text):
            continue
        counts = CauseCounts(cause_id, chosen, 0, marks)
        _run, causes = _verdict_amounts(_shaped(run_id, status, False, finished, 0, counts))
        target = cause_sums.setdefault(
            (run_id, name, label, text, cause_id), dict.fromkeys(_CAUSE_FIELDS, 0)
        )
        _plus(target, causes[cause_id], n)
    return sums, cause_sums


def _shaped(
    run_id: int,
    status: str,
    label_error: bool,
    finished: int,
    label_error_marks: int,
    *causes: CauseCounts,
) -> StoredVerdict:
    """A verdict with only the values that decide what it adds to its sums."""
    return StoredVerdict(
        prediction_id=0,
        run_id=run_id,
        status=ErrorStatus(status),
        label_error=label_error,
        suggested_label=None,
        disagreement=False,
        finished=finished,
        label_error_marks=label_error_marks,
        note="",
        causes=causes,
    )


# --- each annotator's reviews added up ------------------------------------------------
#
# The dashboard sets each annotator's own tally beside the consensus. Those sums follow a
# review's own state, not its error's verdict, so the save that knows the review's state
# before and after moves them (`count_review`) in its transaction. Like the run's sums,
# they count a run's reviews whether or not their error is under review: only errors
# under review are annotated.

_ANNOTATOR_FIELDS = ("reviews", "finished", "label_errors")


@dataclass(frozen=True)
class ReviewCount:
    """What one review annotation adds to its annotator's sums in its run."""

    finished: bool
    label_error: bool
    causes: frozenset[int]

    def flags(self) -> bool:
        return self.finished and self.label_error

    def marks(self, cause_id: int) -> bool:
        return self.finished and cause_id in self.causes


def count_review(
    session: Session,
    run_id: int,
    annotator_id: int,
    before: ReviewCount | None,
    after: ReviewCount,
) -> None:
    """Move one annotator's sums in the run from a review's old state (None: the review is
    new) to its new one: at most one upsert per table."""
    old = before or ReviewCount(False, False, frozenset())
    sums = {
        "run_id": run_id,
        "annotator_id": annotator_id,
        "reviews": int(before is None),
        "finished": int(after.finished) - int(old.finished),
        "label_errors": int(after.flags()) - int(old.flags()),
    }
    if any(sums[f] for f in _ANNOTATOR_FIELDS):
        _add(session, RunAnnotatorVerdicts, ["run_id", "annotator_id"], _ANNOTATOR_FIELDS, [sums])
    marks = [
        {"run_id": run_id, "annotator_id": annotator_id, "cause_id": c, "marks": n}
        for c in sorted(old.causes | after.causes)
        if (n := int(after.marks(c)) - int(old.marks(c)))
    ]
    _add(
        session,
        RunAnnotatorCauseVerdicts,
        ["run_id", "annotator_id", "cause_id"],
        ("marks",),
        marks,
    )


@dataclass(frozen=True)
class AnnotatorSums:
    """One annotator's reviews in a run, added up (see `RunAnnotatorVerdicts`)."""

    reviews: int
    finished: int
    label_errors: int
    marks: dict[int, int]  # cause id -> finished reviews marking it

    @property
    def open(self) -> int:
        """Reviews started, unsure or skipped: not finished."""
        return self.reviews - self.finished


def annotator_sums(session: Session, run_id: int) -> dict[int, AnnotatorSums]:
    """The stored sums of each annotator who has a review in the run (two queries of a row
    per annotator and per cause they marked)."""
    db = session.connection()
    marks: dict[int, dict[int, int]] = defaultdict(dict)
    for m in db.execute(
        select(
            RunAnnotatorCauseVerdicts.annotator_id,
            RunAnnotatorCauseVerdicts.cause_id,
            RunAnnotatorCauseVerdicts.marks,
        ).where(RunAnnotatorCauseVerdicts.run_id == run_id, RunAnnotatorCauseVerdicts.marks > 0)
    ):
        marks[m.annotator_id][m.cause_id] = m.marks
    return {
        r.annotator_id: AnnotatorSums(
            r.reviews, r.finished, r.label_errors, marks.get(r.annotator_id, {})
        )
        for r in db.execute(
            select(*RunAnnotatorVerdicts.__table__.c).where(
                RunAnnotatorVerdicts.run_id == run_id, RunAnnotatorVerdicts.reviews > 0
            )
        )
    }


def recount_annotators(session: Session, run_id: int) -> dict[int, AnnotatorSums]:
    """The same sums counted from the run's annotations now (a query per table, over the
    whole run): what `annotator_sums` must equal, and what `recount_reviews` stores."""
    db = session.connection()
    review = and_(
        Annotation.kind == AnnotationKind.REVIEW,
        Annotation.prediction_id == Prediction.id,
        Prediction.run_id == run_id,
    )
    done = Annotation.status == AnnotationStatus.DONE
    marks: dict[int, dict[int, int]] = defaultdict(dict)
    for annotator_id, cause_id, n in db.execute(
        select(Annotation.annotator_id, AnnotationCause.cause_id, func.count())
        .select_from(Annotation)
        .join(Prediction, review)
        .join(AnnotationCause, AnnotationCause.annotation_id == Annotation.id)
        .where(done)
        .group_by(Annotation.annotator_id, AnnotationCause.cause_id)
    ):
        marks[annotator_id][cause_id] = n
    return {
        r.annotator_id: AnnotatorSums(
            r.reviews, r.finished, r.label_errors, marks.get(r.annotator_id, {})
        )
        for r in db.execute(
            select(
                Annotation.annotator_id,
                func.count().label("reviews"),
                func.count().filter(done).label("finished"),
                func.count().filter(done, Annotation.label_error).label("label_errors"),
            )
            .select_from(Annotation)
            .join(Prediction, review)
            .group_by(Annotation.annotator_id)
        )
    }


def recount_reviews(session: Session, run_ids: Iterable[int] | None = None) -> None:
    """Store the annotators' sums of these runs (default: every run) counted anew: after
    annotations were written past `annotations.save`, and the migration's backfill."""
    runs = _runs(session, run_ids)
    db = session.connection()
    for run_id in runs:
        db.execute(
            delete(RunAnnotatorCauseVerdicts).where(RunAnnotatorCauseVerdicts.run_id == run_id)
        )
        db.execute(delete(RunAnnotatorVerdicts).where(RunAnnotatorVerdicts.run_id == run_id))
        counted = recount_annotators(session, run_id)
        if not counted:
            continue
        db.execute(
            insert(RunAnnotatorVerdicts),
            [
                {
                    "run_id": run_id,
                    "annotator_id": a,
                    "reviews": c.reviews,
                    "finished": c.finished,
                    "label_errors": c.label_errors,
                }
                for a, c in counted.items()
            ],
        )
        marks = [
            {"run_id": run_id, "annotator_id": a, "cause_id": cause, "marks": n}
            for a, c in counted.items()
            for cause, n in c.marks.items()
        ]
        if marks:
            db.execute(insert(RunAnnotatorCauseVerdicts), marks)


# --- a run's errors counted --------------------------------------------------------


def recount_errors(session: Session, run_ids: Iterable[int] | None = None) -> None:
    """Store how many errors these runs (default: every run) have and how many are under
    review (`Run.errors`, `Run.in_review`): by every write of predictions (the import,
    once at its end) and the migration's backfill."""
    session.flush()
    runs = _runs(session, run_ids)
    for run_id in runs:
        errors, in_review = session.execute(
            select(
                func.count(Prediction.id), func.count(Prediction.id).filter(Prediction.in_review)
            ).where(Prediction.run_id == run_id, Prediction.is_error)
        ).one()
        # An UPDATE of these two columns, not the run loaded whole: revision 0004 runs
        # this on a schema that lacks the run's later columns.
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(errors=errors or 0, in_review=in_review or 0)
            .execution_options(synchronize_session="evaluate")
        )
    session.flush()
