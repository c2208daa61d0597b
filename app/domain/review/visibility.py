"""Blind review: whose verdicts a person may see on an error. The one rule every reader asks.

Agreement and the majority consensus mean something only when annotators judge each
error independently, so under blind review (a project setting, on by default) nothing
of anyone else's verdict on an error reaches an annotator until they have finished
their own review of it: not its consensus, not its disagreement flag, not another
person's causes, label-error flag, note or status. "Finished" is the rule the verdicts count
by (`verdicts.FINISHED`: a review annotation is finished when it is done; skipping or
being unsure gives no verdict). Once finished, they see the consensus, and the project's
`reveal_marks` decides whether they also see each person's marks. Leads and admins see
everything, and so does everyone in a project that is not blind.

Every reader goes through here: the sheet's rows, footer, filters and sort
(`analysis.sheet`, `analysis.views`), the errors page of the API (`error_pages`), the
tally, the project page's summary, the runs compared and the pipeline's blame (all from
`views.tally`), the causes' usage counts (`projects.causes`), the exports
(`annotation_export`), the review screen's history and carried verdicts, and the live
events (`app.web.live`).

Hidden work is said, never shown as zeros: a row and a footer count the reviews held
back (`Shown.hidden`, `Tally.hidden`) and say so in words (`sheet.hidden_message`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, case, exists, false, func, select, true, type_coerce
from sqlalchemy.orm import Session, aliased

from app.domain.projects.access import ProjectAccess
from app.domain.verdicts import FINISHED, ErrorMarks, ErrorStatus, Mark, error_status, note_of
from app.models import Annotation, AnnotationKind, Project


@dataclass(frozen=True)
class Shown:
    """What one person sees of one error's annotations."""

    reviews: tuple[Mark, ...]
    adjudication: Mark | None
    consensus: bool  # the stored verdict (consensus, disagreement) may be shown
    note: str  # the notes of the annotations shown
    hidden: int  # others' review annotations held back until the viewer finishes theirs


@dataclass(frozen=True)
class Visibility:
    """What one person may see of other people's verdicts in one project."""

    viewer_id: int
    blind: bool  # False: everything (a lead, an admin, or a project not under blind review)
    reveal_marks: bool  # blind only: once finished, others' marks too, not just the consensus
    lead: bool = False

    @property
    def sees_all(self) -> bool:
        return not self.blind

    @property
    def sees_others_marks(self) -> bool:
        """Whether others' individual marks can ever be shown (on errors one finished)."""
        return self.sees_all or self.reveal_marks

    # --- one error, in Python (a page of rows) ------------------------------------------

    def finished(self, error: ErrorMarks | None) -> bool:
        """The viewer's own review of this error is finished."""
        return error is not None and any(
            m.annotator_id == self.viewer_id and m.status is FINISHED for m in error.reviews
        )

    def shown(self, error: ErrorMarks | None) -> Shown:
        if error is None:
            return Shown((), None, True, "", 0)
        if self.sees_all:
            return Shown(
                error.reviews,
                error.adjudication,
                True,
                note_of(error.reviews, error.adjudication),
                0,
            )
        mine = tuple(m for m in error.reviews if m.annotator_id == self.viewer_id)
        others = len(error.reviews) - len(mine)
        if self.finished(error):
            if self.reveal_marks:
                return Shown(
                    error.reviews,
                    error.adjudication,
                    True,
                    note_of(error.reviews, error.adjudication),
                    0,
                )
            return Shown(mine, None, True, note_of(mine, None), 0)
        return Shown(mine, None, False, note_of(mine, None), others)

    def status(self, error: ErrorMarks | None, stored: ErrorStatus) -> ErrorStatus:
        """The error's status as the viewer may see it. Until a blind viewer finished
        their own review, the status is that of their review alone (queued if they have
        none): "partial" or "done" would say that others finished it, "unsure" or
        "skipped" what someone else made of it."""
        if self.sees_all or self.finished(error):
            return stored
        own = [m.status for m in error.reviews if m.annotator_id == self.viewer_id] if error else []
        # The one rule, over one unfinished review: its own status, or queued.
        return error_status(own, adjudicated=False, overlap=1)

    # --- many errors, in SQL (filters, sort, the footer) --------------------------------

    def finished_by_viewer(self, prediction_id: Any) -> ColumnElement[bool]:
        """The SQL condition that the viewer's own review of the error whose id is the
        column `prediction_id` is finished (same rule as `finished`)."""
        # An alias: inside a query over `Annotation` it must not correlate with it.
        mine = aliased(Annotation, name="mine")
        return exists().where(
            mine.prediction_id == prediction_id,
            mine.annotator_id == self.viewer_id,
            mine.kind == AnnotationKind.REVIEW,
            mine.status == FINISHED,
        )

    def finished_ids(self) -> Any:
        """The ids of the errors the viewer finished, as a subquery: a footer of a blind
        viewer reads these (an index on annotator and status), not the whole run."""
        mine = aliased(Annotation, name="mine")
        return select(mine.prediction_id).where(
            mine.annotator_id == self.viewer_id,
            mine.kind == AnnotationKind.REVIEW,
            mine.status == FINISHED,
        )

    def status_seen(self, stored: Any, prediction_id: Any) -> Any:
        """SQL: the status (an `ErrorStatus` value) of the error whose id is the column
        `prediction_id` and whose stored status is `stored`, as `status` gives it."""
        if self.sees_all:
            return stored
        own = aliased(Annotation, name="own")
        # An unfinished review's status is the error status of the same name
        # (`verdicts.error_status` over that one review).
        own_status = (
            select(type_coerce(own.status, String))
            .where(
                own.prediction_id == prediction_id,
                own.annotator_id == self.viewer_id,
                own.kind == AnnotationKind.REVIEW,
            )
            .limit(1)
            .scalar_subquery()
        )
        return case(
            (self.finished_by_viewer(prediction_id), stored),
            else_=func.coalesce(own_status, ErrorStatus.QUEUED.value),
        )

    def sees_verdict(self, prediction_id: Any) -> ColumnElement[bool]:
        """SQL: the error's stored verdict may be shown to the viewer."""
        return true() if self.sees_all else self.finished_by_viewer(prediction_id)

    def sees_others_marks_on(self, prediction_id: Any) -> ColumnElement[bool]:
        """SQL: other people's reviews of the error may be shown to the viewer."""
        if self.sees_all:
            return true()
        if not self.reveal_marks:
            return false()
        return self.finished_by_viewer(prediction_id)

    def sees_marks_of(self, annotator_id: int, prediction_id: Any) -> ColumnElement[bool]:
        """SQL: `annotator_id`'s review of the error may be shown to the viewer."""
        if annotator_id == self.viewer_id:
            return true()
        return self.sees_others_marks_on(prediction_id)

    # --- people, exports, history, live events ------------------------------------------

    def annotators(self, named: tuple[tuple[int, str], ...]) -> tuple[tuple[int, str], ...]:
        """The people whose reviews the viewer may pick (a filter) or read tallies of."""
        if self.sees_others_marks:
            return named
        return tuple((uid, name) for uid, name in named if uid == self.viewer_id)

    def tallies_of(self, named: tuple[tuple[int, str], ...]) -> tuple[tuple[int, str], ...]:
        """Whose per-annotator tallies the viewer may read: they add up errors the viewer
        has not finished, so under blind review only the viewer's own."""
        if self.sees_all:
            return named
        return tuple((uid, name) for uid, name in named if uid == self.viewer_id)

    @property
    def export_annotator(self) -> int | None:
        """Whose annotations an export holds: None for everyone's (leads and admins);
        else the viewer's own, and "own" is their review annotations only, every status,
        never an adjudication (it settles the consensus of everyone's marks) nor
        another's row. Blind or not: an annotator's download is their own work."""
        return None if self.lead else self.viewer_id

    @property
    def reads_history(self) -> bool:
        """An error's history names everyone's changes: for leads and admins only."""
        return self.lead

    def event(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a live event about a saved annotation may tell this viewer: for a blind
        one, only which error changed, so their page asks for its own view of it."""
        if self.sees_all:
            return dict(data)
        return {k: v for k, v in data.items() if k in {"prediction", "run"}}


def visibility(project: Project, user_id: int, *, lead: bool) -> Visibility:
    return Visibility(
        viewer_id=user_id,
        blind=project.blind_review and not lead,
        reveal_marks=project.reveal_marks,
        lead=lead,
    )


def visibility_of(access: ProjectAccess) -> Visibility:
    """What this member (or visiting admin) may see of others' verdicts in the project."""
    return visibility(access.project, access.user.id, lead=access.can_lead)


def everything(viewer_id: int = 0) -> Visibility:
    """Sees all: for a lead's reads that hold no access (a command, a benchmark)."""
    return Visibility(viewer_id=viewer_id, blind=False, reveal_marks=True, lead=True)


def seen_errors(session: Session, seen_by: Visibility, prediction_ids: Sequence[int]) -> set[int]:
    """Which of these errors' verdicts the viewer may see (one query)."""
    if seen_by.sees_all or not prediction_ids:
        return set(prediction_ids)
    return set(
        session.scalars(
            select(Annotation.prediction_id).where(
                Annotation.prediction_id.in_(prediction_ids),
                Annotation.prediction_id.in_(seen_by.finished_ids()),
            )
        )
    )
