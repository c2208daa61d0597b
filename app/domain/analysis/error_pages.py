"""A run's errors under review for notebooks: page by page with a keyset cursor, and one
annotator's annotation of one of them, with causes given by name.

The page is cut in SQL from the same stored verdicts and with the same filters as the
sheet, so its consensus and status are the sheet's, row for row, and a page reads a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.domain.analysis.sheet import ErrorRow, RunData, load_run, rows_of
from app.domain.analysis.views import Filters, slice_query
from app.domain.errors import InvalidInput, NotFound
from app.domain.inputs import load_json
from app.domain.projects.access import ProjectAccess
from app.domain.projects.causes import fold
from app.domain.projects.runs import resolve_run
from app.domain.review.annotations import Draft, SaveResult, save
from app.domain.review.visibility import visibility_of
from app.i18n import gettext as _
from app.models import Cause, Prediction, Project, Run, Sample, User

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# Where an error stands in the review order: errors without a position come last, as
# in the review queue, whatever the database does with NULLs.
OrderKey = tuple[bool, int, int]


def order_key(review_order: int | None, prediction_id: int) -> OrderKey:
    return (review_order is None, review_order or 0, prediction_id)


# --- the cursor ---------------------------------------------------------------------


def encode_cursor(run: Run, key: OrderKey) -> str:
    """Opaque to callers; names the run so a cursor cannot wander into another one."""
    raw = json.dumps([run.id, key[0], key[1], key[2]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, run: Run) -> OrderKey:
    refused = InvalidInput(
        {"cursor": _("This cursor was not given out by this endpoint; start again without one.")}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # The shared decoder: a cursor nested a thousand deep is refused, not a crash.
        run_id, missing, position, prediction_id = load_json(raw)
    except (ValueError, TypeError, binascii.Error):
        raise refused from None
    if not (
        isinstance(run_id, int)
        and isinstance(missing, bool)
        and isinstance(position, int)
        and isinstance(prediction_id, int)
    ):
        raise refused
    if run_id != run.id:
        raise InvalidInput(
            {
                "cursor": _(
                    "This cursor belongs to another run than %(run)s "
                    "(did `latest` change?); start again without one.",
                    run=repr(run.name),
                )
            }
        )
    return (missing, position, prediction_id)


# --- one page -----------------------------------------------------------------------


@dataclass(frozen=True)
class SampleContent:
    text: str | None
    record: dict[str, Any] | None


@dataclass(frozen=True)
class ErrorsPage:
    data: RunData
    rows: list[ErrorRow]  # this page, in review order
    matching: int  # errors under review that the filters keep, on every page
    next_cursor: str | None  # None on the last page
    usernames: dict[int, str]  # annotator id -> username, for the marks on this page
    cause_names: dict[int, str]
    # prediction id -> the sample's whole text and record (the rows hold an excerpt only)
    content: dict[int, SampleContent]

    def names(self, cause_ids: Iterable[int]) -> list[str]:
        """Cause names in the sheet's column order."""
        chosen = set(cause_ids)
        return [name for cause_id, name in self.cause_names.items() if cause_id in chosen]


def errors_page(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    filters: Filters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ErrorsPage:
    """The errors under review that the filters keep, `limit` of them after `cursor`.

    The cursor is a position in the review order, not an offset: errors finished or
    re-filtered between two calls neither repeat nor go missing.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput({"limit": _("The limit is between 1 and %(max)s.", max=MAX_LIMIT)})
    run = resolve_run(session, access.project, run_name)
    after = decode_cursor(cursor, run) if cursor else None
    data = load_run(session, access.project, run, seen_by=visibility_of(access))
    matching = session.scalar(slice_query(session, data, filters, func.count())) or 0
    query = slice_query(session, data, filters, Prediction.id, Prediction.review_order)
    if after is not None:
        missing, position, last_id = after
        order = Prediction.review_order
        query = query.where(
            and_(order.is_(None), Prediction.id > last_id)
            if missing
            else or_(
                order.is_(None),
                order > position,
                and_(order == position, Prediction.id > last_id),
            )
        )
    found = session.execute(
        query.order_by(
            Prediction.review_order.is_(None), Prediction.review_order, Prediction.id
        ).limit(limit + 1)
    ).all()
    keys = {pid: order_key(position, pid) for pid, position in found}
    rows = rows_of(session, data, [pid for pid, _ in found[:limit]])
    next_cursor = encode_cursor(run, keys[rows[-1].prediction_id]) if len(found) > limit else None

    people = {m.annotator_id for r in rows for m in (*r.marks, r.adjudication) if m is not None}
    usernames = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(people))).all())
        if people
        else {}
    )
    ids = [row.prediction_id for row in rows]
    content = (
        {
            pid: SampleContent(text, record)
            for pid, text, record in session.execute(
                select(Prediction.id, Sample.text, Sample.record)
                .join(Sample, Sample.id == Prediction.sample_id)
                .where(Prediction.id.in_(ids))
            )
        }
        if ids
        else {}
    )
    return ErrorsPage(
        data=data,
        rows=rows,
        matching=matching,
        next_cursor=next_cursor,
        usernames=usernames,
        cause_names={c.id: c.name for c in data.columns},
        content=content,
    )


# --- writing one's own annotation ----------------------------------------------------


def error_under_review(session: Session, run: Run, sample_id: str) -> Prediction:
    """The run's prediction for the sample with this external id, if it is an error under
    review (only those are annotated)."""
    prediction = session.scalar(
        select(Prediction)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(
            Prediction.run_id == run.id,
            Sample.project_id == run.project_id,
            Sample.external_id == sample_id,
        )
    )
    if prediction is None or not prediction.is_error or not prediction.in_review:
        raise NotFound(
            _(
                "Run %(run)s has no error under review with sample id %(sample)s.",
                run=repr(run.name),
                sample=repr(sample_id),
            )
        )
    return prediction


def causes_by_name(session: Session, project: Project, names: Sequence[str]) -> frozenset[int]:
    """Cause ids from names, matched exactly or else ignoring case, accents and spacing.

    Unknown names are refused by name, so a typo never silently drops a cause.
    """
    causes = list(session.scalars(select(Cause).where(Cause.project_id == project.id)))
    exact = {c.name: c.id for c in causes}
    folded: dict[str, set[int]] = {}
    for cause in causes:
        folded.setdefault(fold(cause.name), set()).add(cause.id)
    chosen: set[int] = set()
    unknown: list[str] = []
    ambiguous: list[str] = []
    for name in names:
        if name in exact:
            chosen.add(exact[name])
            continue
        matches = folded.get(fold(name), set())
        if len(matches) == 1:
            chosen |= matches
        elif matches:
            ambiguous.append(name)
        else:
            unknown.append(name)
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise InvalidInput(
            {
                "causes": _(
                    "This project has no cause named %(names)s. List them at GET .../causes.",
                    names=listed,
                )
            }
        )
    if ambiguous:
        listed = ", ".join(repr(n) for n in ambiguous)
        raise InvalidInput(
            {
                "causes": _(
                    "%(names)s matches several causes; give the exact name (case included).",
                    names=listed,
                )
            }
        )
    return frozenset(chosen)


@dataclass(frozen=True)
class SavedAnnotation:
    run: Run
    sample_id: str
    result: SaveResult


def annotate_error(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    sample_id: str,
    cause_names: Sequence[str],
    draft: Draft,
    *,
    expected_version: int | None,
) -> SavedAnnotation:
    """Store the caller's own review of one error, its causes given by name (any
    `draft.cause_ids` are ignored). A stale version raises StaleAnnotation; None writes
    over whatever version is current (HTTP's PUT without If-Match)."""
    # Before the names are checked: an archived project refuses every change alike.
    access.require_open()
    run = resolve_run(session, access.project, run_name)
    prediction = error_under_review(session, run, sample_id)
    cause_ids = causes_by_name(session, access.project, cause_names)
    result = save(
        session,
        access,
        prediction,
        replace(draft, cause_ids=cause_ids),
        expected_version=expected_version,
        action="api",
    )
    return SavedAnnotation(run, sample_id, result)


def cause_names_of(session: Session, cause_ids: Iterable[int]) -> list[str]:
    """Names in the project's cause order (for answers about one annotation)."""
    ids = list(cause_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(Cause.name).where(Cause.id.in_(ids)).order_by(Cause.position, Cause.id)
        )
    )
