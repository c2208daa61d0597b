"""The error-analysis spreadsheet of one run: its columns, its rows and its footer's figures.

Nothing here recomputes a consensus: each error's verdict is stored as it changes
(`app.domain.verdicts`), so a run's header is a handful of small queries, a row is read
only when it is shown (`rows_of`), and the footer is aggregated in SQL over the stored
verdicts (`views.tally`). What a view costs follows what it shows, not the size of the
run: figures for 1,000, 10,000 and 200,000 errors are in bench/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.analysis.tally import (
    Agreement,
    Ceiling,
    Share,
    Verdict,
    error_rate,
    label_error_advice,
)
from app.domain.errors import NotFound
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.domain.review.status import is_under_review
from app.domain.review.visibility import Visibility, visibility_of
from app.domain.verdicts import (
    ErrorMarks,
    ErrorStatus,
    Mark,
    RunSums,
    StoredVerdict,
    marks_of,
    run_sums,
    stored,
)
from app.i18n import gettext as _
from app.i18n import ngettext
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
    Run,
    RunAnnotatorVerdicts,
    Sample,
    User,
    VerdictCause,
)

TEXT_EXCERPT = 140


def hidden_message(hidden: int) -> str | None:
    """What blind review holds back, said plainly (None: nothing is)."""
    if hidden <= 0:
        return None
    return ngettext(
        "%(num)s other review hidden until you finish yours",
        "%(num)s other reviews hidden until you finish yours",
        hidden,
    )


@dataclass(frozen=True)
class CauseColumn:
    id: int
    name: str
    group: str
    archived: bool
    description: str = ""


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
    note: str = ""
    # Others' reviews held back from a blind viewer until they finish their own.
    hidden: int = 0

    @property
    def examined(self) -> bool:
        return self.verdict is not None

    @property
    def hidden_message(self) -> str | None:
        return hidden_message(self.hidden)

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
    """What every view of one run's sheet needs besides its rows: a handful of queries."""

    project: Project
    run: Run
    errors: int  # all errors of the run, reviewed or not: the error rate's numerator
    in_review: int  # the errors under review: the sheet's rows
    sums: RunSums  # its stored verdicts added up: the unfiltered footer, status counts
    columns: tuple[CauseColumn, ...]
    # Everyone with a review in this run whose reviews the viewer may pick by name.
    annotators: tuple[tuple[int, str], ...]
    seen_by: Visibility  # what the viewer may see of others' verdicts (blind review)

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.run.evaluated)


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_EXCERPT else flat[: TEXT_EXCERPT - 1] + "…"


def own_causes(session: Session, run_id: int, annotator_id: int) -> set[int]:
    """The causes someone's own reviews of the run mark, any status."""
    return set(
        session.scalars(
            select(AnnotationCause.cause_id)
            .join(Annotation, Annotation.id == AnnotationCause.annotation_id)
            .join(Prediction, Prediction.id == Annotation.prediction_id)
            .where(
                Prediction.run_id == run_id,
                Annotation.annotator_id == annotator_id,
                Annotation.kind == AnnotationKind.REVIEW,
            )
            .distinct()
        )
    )


def _seen_causes(session: Session, run_id: int, seen_by: Visibility, among: set[int]) -> set[int]:
    """Which of the causes `among` a blind viewer sees marked somewhere in the run: by
    their own reviews, in the consensus of an error they finished, or (`reveal_marks`) by
    anyone on such an error. A column of a cause only others marked elsewhere would tell
    them of verdicts they may not see."""
    seen = own_causes(session, run_id, seen_by.viewer_id) & among
    shown: ColumnElement[bool] = VerdictCause.chosen.is_(True)
    if seen_by.reveal_marks:
        shown = or_(shown, VerdictCause.marks > 0)
    seen |= set(
        session.scalars(
            select(VerdictCause.cause_id)
            .where(
                VerdictCause.run_id == run_id,
                VerdictCause.cause_id.in_(among - seen),
                VerdictCause.prediction_id.in_(seen_by.finished_ids()),
                shown,
            )
            .distinct()
        )
    )
    return seen


def cause_columns(
    session: Session,
    project_id: int,
    sums: RunSums,
    *,
    run_id: int | None = None,
    seen_by: Visibility | None = None,
) -> tuple[CauseColumn, ...]:
    """The sheet's columns: live causes in their order, and archived ones that some
    annotation of the run still marks (its stored `sums` say which), of those only what
    `seen_by` (with the `run_id`) may see marked."""
    used = {c for c, (marked, _, _) in sums.causes.items() if marked}
    causes = session.execute(
        select(
            Cause.id,
            Cause.name,
            Cause.description,
            Cause.archived_at,
            CauseGroup.name.label("group_name"),
        )
        .join(CauseGroup, CauseGroup.id == Cause.group_id)
        .where(Cause.project_id == project_id)
        .order_by(CauseGroup.position, CauseGroup.id, Cause.position, Cause.id)
    ).all()
    archived = {c.id for c in causes if c.archived_at is not None} & used
    if archived and seen_by is not None and run_id is not None and not seen_by.sees_all:
        used = (used - archived) | _seen_causes(session, run_id, seen_by, archived)
    return tuple(
        CauseColumn(c.id, c.name, c.group_name, c.archived_at is not None, c.description)
        for c in causes
        if c.archived_at is None or c.id in used
    )


def annotators_of(session: Session, project_id: int, run_id: int) -> tuple[tuple[int, str], ...]:
    """The members of the team who reviewed some error of the run, by name (from their
    stored sums: a row per annotator, whatever the run's size)."""
    members = session.execute(
        select(User.id, User.username, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .join(
            RunAnnotatorVerdicts,
            and_(
                RunAnnotatorVerdicts.annotator_id == User.id,
                RunAnnotatorVerdicts.run_id == run_id,
                RunAnnotatorVerdicts.reviews > 0,
            ),
        )
        .where(Membership.project_id == project_id)
    ).all()
    named = [(m.id, m.display_name or m.username) for m in members]
    return tuple(sorted(named, key=lambda item: item[1].lower()))


def load_run(session: Session, project: Project, run: Run, *, seen_by: Visibility) -> RunData:
    """The run's header: its counts, columns and annotators, whatever its size, as
    `seen_by` may see them (every view of the run reads through it)."""
    sums = run_sums(session, run.id)
    return RunData(
        project=project,
        run=run,
        # The run's stored counts, loaded with it (`verdicts.recount_errors`): on
        # PostgreSQL reading them again was a round trip of every view.
        errors=run.errors,
        in_review=run.in_review,
        sums=sums,
        columns=cause_columns(session, project.id, sums, run_id=run.id, seen_by=seen_by),
        annotators=seen_by.annotators(annotators_of(session, project.id, run.id)),
        seen_by=seen_by,
    )


def open_run(session: Session, access: ProjectAccess, run_name: str) -> RunData:
    """The run (by name, or `latest`) of a project the user may see, as they may see it."""
    run = resolve_run(session, access.project, run_name)
    return load_run(session, access.project, run, seen_by=visibility_of(access))


def rows_of(session: Session, data: RunData, prediction_ids: Sequence[int]) -> list[ErrorRow]:
    """These errors of the run as the sheet shows them to its viewer, in the order given:
    their samples, their annotations and their stored verdicts (a few queries for the
    lot), less what blind review holds back (`data.seen_by`)."""
    if not prediction_ids:
        return []
    run = data.run
    samples = {
        p.id: p
        for p in session.execute(
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
            .where(Prediction.id.in_(prediction_ids), Prediction.run_id == run.id)
        )
    }
    marks = marks_of(session, prediction_ids)
    verdicts = stored(session, prediction_ids)
    return [
        row_of(
            samples[pid],
            marks.get(pid),
            verdicts.get(pid),
            data.seen_by,
            image_sha256=samples[pid].image_sha256,
            excerpt=_excerpt(samples[pid].text),
            meta=dict(samples[pid].meta or {}),
        )
        for pid in prediction_ids
        if pid in samples
    ]


def row_of(
    prediction: Any,
    error: ErrorMarks | None,
    verdict: StoredVerdict | None,
    seen_by: Visibility,
    *,
    image_sha256: str | None = None,
    excerpt: str | None = None,
    meta: dict[str, Any] | None = None,
) -> ErrorRow:
    """The sheet's row for one error from its prediction (id, label, confidence,
    external_id, true_label), its annotations and its stored verdict (none: queued), as
    `seen_by` may see it."""
    shown = seen_by.shown(error)
    return ErrorRow(
        prediction_id=prediction.id,
        external_id=prediction.external_id,
        label=prediction.true_label,
        predicted=prediction.label,
        confidence=prediction.confidence,
        image_sha256=image_sha256,
        excerpt=excerpt,
        meta=meta or {},
        marks=shown.reviews,
        adjudication=shown.adjudication,
        status=seen_by.status(error, verdict.status if verdict else ErrorStatus.QUEUED),
        verdict=verdict.consensus if verdict and shown.consensus else None,
        disagreement=verdict.disagreement if verdict and shown.consensus else False,
        note=(verdict.note if seen_by.sees_all else shown.note) if verdict else "",
        hidden=shown.hidden,
    )


def error_row(session: Session, data: RunData, prediction_id: int) -> ErrorRow:
    in_run = session.scalar(
        select(Prediction.id).where(Prediction.id == prediction_id, is_under_review(data.run.id))
    )
    rows = rows_of(session, data, [prediction_id]) if in_run else []
    if not rows:
        raise NotFound(_("No such error under review in this run."))
    return rows[0]


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
    # Blind review: the figures are of the examined errors the viewer finished, and this
    # many reviews by others (of the slice's errors the viewer has not finished) are not
    # in them; without `agreement_shown` the agreement (others' marks) is held back too.
    blind: bool = False
    hidden: int = 0
    agreement_shown: bool = True

    @property
    def hidden_message(self) -> str | None:
        return hidden_message(self.hidden)

    @property
    def label_error_advice(self) -> str:
        return label_error_advice(self.label_errors.value)

    @property
    def missing(self) -> str | None:
        """What the ceiling needs and does not have, said plainly."""
        if self.error_rate is None:
            return _(
                "The run's error rate is unknown (the number of evaluated samples was not "
                "given at import), so ceilings are shares of the errors only, not points of "
                "error rate."
            )
        return None

    def by_size(self) -> list[CauseTally]:
        return sorted(self.causes, key=lambda c: (-(c.share.count), c.column.name.lower()))


def annotator_tallies(session: Session, data: RunData) -> list[AnnotatorTally]:
    """Each annotator's own tally of the errors they finished, to set beside the consensus
    (their stored sums: a row per annotator and per cause they marked). A blind viewer
    reads their own only: the others' add up errors the viewer has not finished."""
    sums = verdicts.annotator_sums(session, data.run.id)
    tallies = []
    for uid, name in data.seen_by.tallies_of(data.annotators):
        own = sums.get(uid)
        if own is None:
            tallies.append(AnnotatorTally(uid, name, 0, {}, 0))
        else:
            tallies.append(AnnotatorTally(uid, name, own.finished, own.marks, own.label_errors))
    return tallies
