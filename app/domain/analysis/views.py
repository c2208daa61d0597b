"""Which rows of the sheet are shown, in which order, one page at a time, and their footer.

Filters, sort and page come from query parameters with the same names on the page, the
downloads and the API, so every view of the sheet (and its footer) is a URL. Each is a
condition or an ORDER BY over the stored verdicts, so the database cuts the page and
adds up the footer: a view reads what it shows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import (
    Select,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.domain.analysis.filters import Filters, status_seen, with_ids
from app.domain.analysis.metadata import MetaKey, metadata_counts
from app.domain.analysis.sheet import (
    CauseTally,
    ErrorRow,
    RunData,
    Tally,
    open_run,
    rows_of,
)
from app.domain.analysis.tally import (
    Agreement,
    AgreementSums,
    Ceiling,
    agreement_from_sums,
    errors_needed,
    wilson,
)
from app.domain.errors import InvalidInput
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.review.status import is_under_review
from app.domain.review.visibility import Visibility, everything
from app.domain.verdicts import ErrorStatus, RunSums, facet_sums
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationKind,
    ErrorVerdict,
    Prediction,
    RunAnnotatorVerdicts,
    Sample,
    User,
    VerdictCause,
)

# The sheet's views: their filters (`analysis.filters`), sort, pages and footers.
__all__ = [
    "PAGE_SIZE",
    "Filters",
    "LiveUpdate",
    "SheetPage",
    "SheetSlice",
    "Sort",
    "label_choices",
    "live_update",
    "metadata_choices",
    "open_sheet",
    "open_slice",
    "parse_view",
    "read_view",
    "sheet_page",
    "slice_query",
    "slice_rows",
    "tally",
    "with_ids",
]

PAGE_SIZE = 50

# --- the slice, in SQL -------------------------------------------------------------

V = ErrorVerdict
# An error without a stored verdict has no annotation: queued, nothing marked.
EXAMINED = func.coalesce(V.examined, false())
FINISHED_COUNT = func.coalesce(V.finished, 0)  # the error's finished reviews, in SQL


def _slice(
    data: RunData, filters: Filters, dialect: str, *columns: Any, sample: bool = False
) -> Select[Any]:
    filters.check(data.seen_by)
    query = (
        select(*columns)
        .select_from(Prediction)
        .outerjoin(V, V.prediction_id == Prediction.id)
        .where(is_under_review(data.run.id), *filters.conditions(dialect, data.seen_by))
    )
    if sample or filters.needs_sample:
        query = query.join(Sample, Sample.id == Prediction.sample_id)
    return query


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def slice_query(session: Session, data: RunData, filters: Filters, *columns: Any) -> Select[Any]:
    """SELECT `columns` over the run's errors under review that the filters keep."""
    return _slice(data, filters, _dialect(session), *columns)


def _units(marked: Any, voters: Any, *, only_marked: bool = False) -> list[Any]:
    """The sums Krippendorff's alpha adds up over errors finished by two or more, for a
    column whose per-error count of marks is `marked` of `voters` (see
    `tally.agreement_from_sums`): coincidences, marks, values, errors, unanimous errors.
    `only_marked`: over the errors where someone marked it."""
    pair = and_(voters >= 2, marked > 0) if only_marked else voters >= 2
    return [
        func.coalesce(
            func.sum(case((pair, marked * (voters - marked) * 1.0 / (voters - 1)), else_=0.0)),
            0.0,
        ),
        func.coalesce(func.sum(case((pair, marked), else_=0)), 0),
        func.coalesce(func.sum(case((pair, voters), else_=0)), 0),
        func.count().filter(pair),
        func.count().filter(pair, or_(marked == 0, marked == voters)),
    ]


def _slice_sums(
    session: Session, data: RunData, filters: Filters, *, finished_only: bool = False
) -> tuple[int, int, int, AgreementSums, dict[int, tuple[int, AgreementSums]]]:
    """The footer's sums over the rows a filter keeps, added up by the database: rows,
    examined, label errors, the label-error agreement sums, and per cause its consensus
    count and agreement sums. `finished_only`: over those the blind viewer finished (the
    only verdicts they see), read from their own finished reviews, not the whole run."""
    dialect = _dialect(session)
    label_marks = func.coalesce(V.label_error_marks, 0)

    def rows(*columns: Any) -> Select[Any]:
        query = _slice(data, filters, dialect, *columns)
        if finished_only:
            query = query.where(Prediction.id.in_(data.seen_by.finished_ids()))
        return query

    totals = session.execute(
        rows(
            func.count(),
            func.count().filter(EXAMINED),
            func.count().filter(EXAMINED, V.label_error),
            *_units(label_marks, FINISHED_COUNT),
        )
    ).one()
    per_cause: dict[int, tuple[int, AgreementSums]] = {}
    for cause_id, count, *sums in session.execute(
        select(
            VerdictCause.cause_id,
            func.count().filter(VerdictCause.chosen, V.examined),
            *_units(VerdictCause.marks, V.finished, only_marked=True),
        )
        .join(V, V.prediction_id == VerdictCause.prediction_id)
        .where(
            VerdictCause.run_id == data.run.id,
            VerdictCause.prediction_id.in_(rows(Prediction.id)),
        )
        .group_by(VerdictCause.cause_id)
    ):
        per_cause[cause_id] = (count, AgreementSums(*sums))
    return totals[0], totals[1], totals[2], AgreementSums(*totals[3:]), per_cause


def _hidden(session: Session, data: RunData, filters: Filters) -> int:
    """How many reviews by others, of the slice's errors, a blind viewer has not finished
    theirs of: what their footer leaves out. Unfiltered, from the stored per-annotator
    sums less the others' reviews of the errors the viewer finished (what follows the
    viewer's own work, not the run's size)."""
    seen_by = data.seen_by
    if seen_by.sees_all:
        return 0
    others = Annotation.annotator_id != seen_by.viewer_id
    if not filters.active:
        total = session.scalar(
            select(func.coalesce(func.sum(RunAnnotatorVerdicts.reviews), 0)).where(
                RunAnnotatorVerdicts.run_id == data.run.id,
                RunAnnotatorVerdicts.annotator_id != seen_by.viewer_id,
            )
        )
        seen = session.scalar(
            select(func.count())
            .select_from(Annotation)
            .join(Prediction, Prediction.id == Annotation.prediction_id)
            .where(
                Annotation.kind == AnnotationKind.REVIEW,
                others,
                Annotation.prediction_id.in_(seen_by.finished_ids()),
                is_under_review(data.run.id),
            )
        )
        return int(total or 0) - int(seen or 0)
    dialect = _dialect(session)
    return int(
        session.scalar(
            select(func.count())
            .select_from(Annotation)
            .where(
                Annotation.kind == AnnotationKind.REVIEW,
                others,
                Annotation.prediction_id.in_(_slice(data, filters, dialect, Prediction.id)),
                ~seen_by.finished_by_viewer(Annotation.prediction_id),
            )
        )
        or 0
    )


def _stored_figures(
    sums: RunSums,
) -> tuple[int, int, AgreementSums, dict[int, tuple[int, AgreementSums]]]:
    """What the footer takes from stored sums: examined, label errors, their agreement
    sums, and per cause its consensus count and agreement sums (as `_slice_sums`)."""
    per_cause = {c: (chosen, agreement) for c, (_, chosen, agreement) in sums.causes.items()}
    return sums.examined, sums.label_errors, sums.label, per_cause


def tally(session: Session, data: RunData, filters: Filters = Filters()) -> Tally:
    """The footer of the rows the filters keep, aggregated over the stored verdicts.

    Shares are of the slice's examined errors (the blurry share among night-time
    images). Ceilings are points of the run's error rate, so a slice's ceiling counts
    its errors against all examined errors of the run: fixing blurry night-time images
    can gain at most e × (their count / all examined errors).
    """
    seen_by = data.seen_by
    hidden = 0
    if not seen_by.sees_all:
        # Blind review: the figures are of the examined errors the viewer finished; the
        # rows are all the slice's rows, whose other verdicts stay hidden.
        rows = _slice_sums(session, data, filters)[0] if filters.active else data.in_review
        _, examined, label_count, label_sums, per_cause = _slice_sums(
            session, data, filters, finished_only=True
        )
        examined_in_run = (
            _slice_sums(session, data, Filters(), finished_only=True)[1]
            if filters.active
            else examined
        )
        hidden = _hidden(session, data, filters)
        if not seen_by.sees_others_marks:
            # Agreement adds up each person's marks: not for a viewer shown the consensus only.
            nothing = AgreementSums(0.0, 0, 0, 0, 0)
            label_sums = nothing
            per_cause = {c: (count, nothing) for c, (count, _) in per_cause.items()}
    elif filters.active and (facet := filters.facet) is not None:
        # One label or one metadata value: its stored sums, one row and a row per cause.
        stored = facet_sums(session, data.run.id, facet)
        rows = stored.errors
        examined, label_count, label_sums, per_cause = _stored_figures(stored.sums)
        examined_in_run = data.sums.examined
    elif filters.active:
        rows, examined, label_count, label_sums, per_cause = _slice_sums(session, data, filters)
        examined_in_run = data.sums.examined
    else:
        # The whole run: its stored sums, one row per run and per cause.
        rows = data.in_review
        examined, label_count, label_sums, per_cause = _stored_figures(data.sums)
        examined_in_run = examined
    pairable_errors, pairable_values = label_sums.errors, label_sums.values

    rate = data.error_rate

    def ceiling(count: int) -> Ceiling | None:
        return Ceiling(rate, wilson(count, examined_in_run)) if rate is not None else None

    def agreement(sums: AgreementSums | None) -> Agreement:
        # Errors finished by two or more on which nobody marked the cause: all agree.
        marked = sums or AgreementSums(0.0, 0, 0, 0, 0)
        return agreement_from_sums(
            replace(
                marked,
                values=pairable_values,
                errors=pairable_errors,
                unanimous=marked.unanimous + pairable_errors - marked.errors,
            )
        )

    causes = tuple(
        CauseTally(
            column=column,
            share=wilson(per_cause.get(column.id, (0, None))[0], examined),
            ceiling=ceiling(per_cause.get(column.id, (0, None))[0]),
            agreement=agreement(per_cause.get(column.id, (0, None))[1]),
        )
        for column in data.columns
    )
    shares = [c.share.value for c in causes] + [label_count / examined if examined else None]
    return Tally(
        run=data.run,
        evaluated=data.run.evaluated,
        errors=data.errors,
        error_rate=rate,
        rows=rows,
        examined=examined,
        examined_in_run=examined_in_run,
        causes=causes,
        label_errors=wilson(label_count, examined),
        label_error_ceiling=ceiling(label_count),
        label_error_agreement=agreement_from_sums(label_sums),
        needed=max(0, errors_needed(shares) - examined),
        filtered=filters.active,
        blind=not seen_by.sees_all,
        hidden=hidden,
        agreement_shown=seen_by.sees_others_marks,
    )


# --- sorting and pages --------------------------------------------------------------


def _status_order(seen_by: Visibility) -> Any:
    status = V.status if seen_by.sees_all else status_seen(seen_by)
    order = case({s.value: i for i, s in enumerate(ErrorStatus)}, value=status, else_=0)
    return func.coalesce(order, 0)


def _text(expr: Any, dialect: str) -> Any:
    # Code-point order, as Python sorts: PostgreSQL's default collation would not.
    return expr.collate("C") if dialect == "postgresql" else expr


def _first_annotator(only: int | None = None) -> Any:
    """The name of an error's first reviewer, lowercased: the sheet's "Annotators" cell
    begins with it. `only`: that person's, if they reviewed it."""
    name = func.lower(func.coalesce(func.nullif(User.display_name, ""), User.username))
    query = (
        select(name)
        .select_from(Annotation)
        .join(User, User.id == Annotation.annotator_id)
        .where(Annotation.prediction_id == Prediction.id, Annotation.kind == AnnotationKind.REVIEW)
    )
    if only is not None:
        query = query.where(Annotation.annotator_id == only)
    return query.order_by(Annotation.id).limit(1).scalar_subquery()


def _own_note(viewer_id: int) -> Any:
    return (
        select(Annotation.note)
        .where(
            Annotation.prediction_id == Prediction.id,
            Annotation.annotator_id == viewer_id,
            Annotation.kind == AnnotationKind.REVIEW,
        )
        .limit(1)
        .scalar_subquery()
    )


def _sort_keys(column: str, dialect: str, seen_by: Visibility) -> list[Any] | None:
    """The ORDER BY of a sheet column (each key ascending; `Sort` flips them all). Under
    blind review a column sorts by what the viewer sees of it: an order must not tell of
    a hidden consensus, mark or note."""
    shown = seen_by.sees_verdict(Prediction.id)
    note: Any = func.coalesce(V.note, "")
    first: Any = _first_annotator()
    label_error: Any = V.label_error.is_(True)
    suggested: Any = func.coalesce(V.suggested_label, "")
    if not seen_by.sees_all:
        own_note = func.coalesce(_own_note(seen_by.viewer_id), "")
        own_name = _first_annotator(seen_by.viewer_id)
        marks = seen_by.sees_others_marks_on(Prediction.id)
        note = case((marks, note), else_=own_note)
        first = case((marks, first), else_=own_name)
        label_error = and_(label_error, shown)
        suggested = case((shown, suggested), else_="")
    keys: dict[str, Callable[[], list[Any]]] = {
        "review": lambda: [],
        "id": lambda: [_text(Sample.external_id, dialect)],
        "label": lambda: [_text(Sample.label, dialect)],
        "prediction": lambda: [_text(Prediction.label, dialect)],
        "confidence": lambda: [
            case((Prediction.confidence.is_(None), 1), else_=0),
            func.coalesce(Prediction.confidence, 0.0),
        ],
        "label_error": lambda: [
            case((label_error, 0), else_=1),
            _text(suggested, dialect),
        ],
        "note": lambda: [case((note == "", 1), else_=0), _text(func.lower(note), dialect)],
        "annotators": lambda: [_text(func.coalesce(first, ""), dialect)],
        "status": lambda: [_status_order(seen_by)],
    }
    if column in keys:
        return keys[column]()
    if column.startswith("cause:") and (cause_id := whole_number(column[6:])) is not None:
        chosen = exists().where(
            VerdictCause.prediction_id == Prediction.id,
            VerdictCause.cause_id == cause_id,
            VerdictCause.chosen,
        )
        return [case((and_(chosen, shown), 0), else_=1)]
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
        if _sort_keys(column, "sqlite", everything()) is None:
            raise InvalidInput(
                {"sort": _("The sheet cannot be sorted by '%(column)s'.", column=column)}
            )
        return cls(column, descending)

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.column

    def toggled(self, column: str) -> str:
        """The sort parameter a click on `column`'s header asks for."""
        if column == self.column and not self.descending:
            return "-" + column
        return column

    def order_by(self, dialect: str, seen_by: Visibility) -> list[Any]:
        keys = _sort_keys(self.column, dialect, seen_by)
        assert keys is not None
        # Ties keep the review order, whichever way the column is sorted; errors without a
        # position last. Said so that PostgreSQL walks its review-order index for a page
        # instead of sorting the whole run (its ascending order puts NULLs last already).
        order = (
            [Prediction.review_order.asc().nulls_last()]
            if dialect == "postgresql"
            else [Prediction.review_order.is_(None), Prediction.review_order]
        )
        return [*(k.desc() if self.descending else k for k in keys), *order, Prediction.id]


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
    labels: list[str]  # the true labels of the run's errors under review (filter choices)
    predicted: list[str]  # the predicted labels among them
    metadata: list[MetaKey]  # their metadata keys and values, with counts

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.matching else 0

    @property
    def last(self) -> int:
        return min(self.page * PAGE_SIZE, self.matching)


def _ordered_ids(session: Session, data: RunData, filters: Filters, sort: Sort) -> Select[Any]:
    dialect = _dialect(session)
    needs_sample = sort.column in {"id", "label"}
    return _slice(data, filters, dialect, Prediction.id, sample=needs_sample).order_by(
        *sort.order_by(dialect, data.seen_by)
    )


# The filters' choices of recent runs, by what they are derived from: only an
# import adds errors or changes labels, and it moves the run's `last_import_at` and its
# counts. Reading them is a DISTINCT over every error of the run, the one part of a
# sheet page that would otherwise grow with the run.
_CHOICES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CHOICES_KEPT = 64
_CHOICES_LOCK = threading.Lock()
_T = TypeVar("_T")


def _cached(session: Session, data: RunData, what: str, compute: Callable[[], _T]) -> _T:
    key = (
        what,
        session.get_bind().engine.url.render_as_string(),
        data.run.id,
        data.run.created_at,  # an id SQLite hands out again after a run is deleted
        data.run.last_import_at,
        data.errors,
        data.in_review,
    )
    with _CHOICES_LOCK:
        if key in _CHOICES:
            _CHOICES.move_to_end(key)
            found: _T = _CHOICES[key]
            return found
    choices = compute()
    with _CHOICES_LOCK:
        _CHOICES[key] = choices
        while len(_CHOICES) > _CHOICES_KEPT:
            _CHOICES.popitem(last=False)
    return choices


def label_choices(session: Session, data: RunData) -> tuple[list[str], list[str]]:
    """The true and the predicted labels that occur among the run's errors under review."""

    def compute() -> tuple[list[str], list[str]]:
        base = select().select_from(Prediction).where(is_under_review(data.run.id))
        truths = session.scalars(
            base.add_columns(Sample.label)
            .join(Sample, Sample.id == Prediction.sample_id)
            .distinct()
        )
        predicted = session.scalars(base.add_columns(Prediction.label).distinct())
        return sorted(truths), sorted(predicted)

    return _cached(session, data, "labels", compute)


def metadata_choices(session: Session, data: RunData) -> list[MetaKey]:
    """The metadata keys and values the run's errors under review carry, with counts
    (only an import writes metadata, so they are cached like the labels)."""
    return _cached(session, data, "metadata", lambda: metadata_counts(session, data.run.id))


def _page(
    session: Session, data: RunData, filters: Filters, sort: Sort, page: int, page_size: int
) -> tuple[Tally, list[int], int, int]:
    """The footer, the ids of the page's rows (cut in SQL: filters, sort, offset), the
    page number (kept within the pages) and how many pages there are."""
    footer = tally(session, data, filters)
    pages = max(1, -(-footer.rows // page_size))
    page = min(max(1, page), pages)
    ids: list[int] = list(
        session.scalars(
            _ordered_ids(session, data, filters, sort)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    return footer, ids, page, pages


def sheet_page(
    session: Session,
    data: RunData,
    filters: Filters,
    sort: Sort,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> SheetPage:
    """One page of the filtered, sorted sheet, with the footer of the whole filtered slice.

    The page's rows are cut in SQL, so a page reads a page."""
    footer, ids, page, pages = _page(session, data, filters, sort, page, page_size)
    labels, predicted = label_choices(session, data)
    return SheetPage(
        data=data,
        filters=filters,
        sort=sort,
        rows=rows_of(session, data, ids),
        matching=footer.rows,
        page=page,
        pages=pages,
        tally=footer,
        labels=labels,
        predicted=predicted,
        metadata=metadata_choices(session, data),
    )


@dataclass(frozen=True)
class LiveUpdate:
    """What an open sheet needs after one error changed. When the page still shows the
    same rows in the same order, only that row (if shown) and the footer; otherwise the
    whole page (a filter or the sort moved rows in or out)."""

    view: SheetPage  # the whole page, or, when `same_rows`, its counts only
    same_rows: bool
    rows: list[ErrorRow]  # the changed errors' rows that are on the page


def live_update(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    filters: Filters,
    sort: Sort,
    page: int,
    changed: list[int],
    shown: list[int],
    columns: list[int],
) -> LiveUpdate:
    """`changed`: the errors saved; `shown` and `columns`: the error and cause ids of
    the rows and columns on screen."""
    data = open_run(session, access, run_name)
    footer, ids, page, pages = _page(session, data, filters, sort, page, PAGE_SIZE)
    if ids != shown or [c.id for c in data.columns] != columns:
        return LiveUpdate(sheet_page(session, data, filters, sort, page), False, [])
    rows = rows_of(session, data, [i for i in ids if i in set(changed)])
    counts = SheetPage(data, filters, sort, [], footer.rows, page, pages, footer, [], [], [])
    return LiveUpdate(counts, True, rows)


def slice_rows(
    session: Session, data: RunData, filters: Filters, sort: Sort, *, chunk: int = 500
) -> Iterator[ErrorRow]:
    """Every row the filters keep, in the sheet's order, read `chunk` at a time: the
    downloads stream a run of any size in bounded memory."""
    ids: list[int] = list(session.scalars(_ordered_ids(session, data, filters, sort)))
    for start in range(0, len(ids), chunk):
        yield from rows_of(session, data, ids[start : start + chunk])


@dataclass(frozen=True)
class SheetSlice:
    """The whole filtered, sorted slice for a download: its footer, and its rows read a
    chunk at a time as they are written (`rows` can be iterated once)."""

    data: RunData
    filters: Filters
    sort: Sort
    tally: Tally
    rows: Iterator[ErrorRow]


def open_slice(
    session: Session, access: ProjectAccess, run_name: str, filters: Filters, sort: Sort
) -> SheetSlice:
    """A download of the sheet, for leads only: its rows carry every annotator's marks,
    names and notes (an annotator's own work is in `annotation_export`)."""
    access.require_lead()
    data = open_run(session, access, run_name)
    return SheetSlice(
        data, filters, sort, tally(session, data, filters), slice_rows(session, data, filters, sort)
    )


def parse_view(
    params: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> tuple[Filters, Sort, int]:
    """Filters, sort and page from query parameters: the same on every sheet URL and the API."""
    filters, sort, page, problems = read_view(params, getlist)
    if problems:
        raise InvalidInput(problems)
    return filters, sort, page


def read_view(
    params: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> tuple[Filters, Sort, int, dict[str, str]]:
    """As `parse_view`, but a part that does not parse is left out and said what is wrong
    with: a typo in one filter keeps the sheet on screen, with the reason above it."""
    filters, problems = Filters.read(params, getlist)
    try:
        sort = Sort.parse(params.get("sort"))
    except InvalidInput as exc:
        sort = Sort()
        problems.update(exc.fields)
    page = whole_number(str(params.get("page") or "1"))
    if page is None:
        problems["page"] = _("The page is a number.")
    return filters, sort, page or 1, problems


def open_sheet(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    filters: Filters,
    sort: Sort,
    page: int = 1,
) -> SheetPage:
    return sheet_page(session, open_run(session, access, run_name), filters, sort, page)
