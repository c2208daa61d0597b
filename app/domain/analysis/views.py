"""Which rows of the sheet are shown, in which order, one page at a time, and their footer.

Filters, sort and page come from query parameters with the same names on the page, the
downloads and the API, so every view of the sheet (and its footer) is a URL. Each is a
condition or an ORDER BY over the stored verdicts, so the database cuts the page and
adds up the footer: a view reads what it shows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
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

from app.domain.accounts.users import normalize_username
from app.domain.analysis.metadata import MetaKey, meta_matches, metadata_counts
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
from app.domain.projects.causes import fold, project_causes
from app.domain.review.status import is_under_review
from app.domain.review.visibility import Visibility, everything
from app.domain.verdicts import ErrorStatus, Facet, RunSums, facet_sums, fits
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationKind,
    ErrorVerdict,
    Membership,
    Prediction,
    Project,
    RunAnnotatorVerdicts,
    Sample,
    User,
    VerdictCause,
)

PAGE_SIZE = 50

# --- filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    causes: frozenset[int] = frozenset()  # every one of them in the consensus
    label: str | None = None
    predicted: str | None = None
    annotator: int | None = None
    status: ErrorStatus | None = None
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
        filters, problems = cls.read(params, getlist)
        if problems:
            raise InvalidInput(problems)
        return filters

    @classmethod
    def read(
        cls, params: Mapping[str, Any], getlist: Callable[[str], list[str]]
    ) -> tuple[Filters, dict[str, str]]:
        """The filters that parse, and what is wrong with each one that does not (left
        out): the sheet page shows the problem above the table it still shows."""
        problems: dict[str, str] = {}
        causes: set[int] = set()
        for raw in getlist("cause"):
            if raw.strip():
                cause_id = whole_number(raw)
                if cause_id is None:
                    problems["cause"] = _("'%(value)s' is not a cause id.", value=raw)
                else:
                    causes.add(cause_id)
        annotator = None
        if params.get("annotator"):
            annotator = whole_number(str(params["annotator"]))
            if annotator is None:
                problems["annotator"] = _("The annotator is given by user id.")
        status = None
        if params.get("status"):
            try:
                status = ErrorStatus(params["status"])
            except ValueError:
                known = ", ".join(s.value for s in ErrorStatus)
                problems["status"] = _("Status must be one of %(known)s.", known=known)
        meta_key = meta_value = None
        if params.get("meta"):
            key, sep, value = str(params["meta"]).partition("=")
            if not sep or not key.strip():
                problems["meta"] = _("Filter metadata as key=value.")
            else:
                meta_key, meta_value = key.strip(), value.strip()
        filters = cls(
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
        return filters, problems

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

    @property
    def facet(self) -> Facet | None:
        """The facet (`verdicts.Facet`) this filter is when it keeps one true label, one
        predicted label or one metadata value and nothing else: such a footer is stored."""
        facet: Facet
        if self.label is not None and self == Filters(label=self.label):
            facet = ("label", "", self.label)
        elif self.predicted is not None and self == Filters(predicted=self.predicted):
            facet = ("predicted", "", self.predicted)
        elif (
            self.meta_key is not None
            and self.meta_value is not None
            and self == Filters(meta_key=self.meta_key, meta_value=self.meta_value)
        ):
            facet = ("meta", self.meta_key, self.meta_value)
        else:
            return None
        return facet if fits(facet[1], facet[2]) else None

    @property
    def on_verdicts(self) -> bool:
        """Whether a filter reads the consensus (or the disagreement) of the errors."""
        return bool(self.causes) or self.label_error or self.no_cause or self.disagreements

    def check(self, seen_by: Visibility) -> None:
        """A blind viewer who may never see others' marks filters by their own reviews
        only: any other annotator's would match nothing, and must say so, not show zeros."""
        others = self.annotator is not None and self.annotator != seen_by.viewer_id
        if others and not seen_by.sees_others_marks:
            raise InvalidInput(
                {
                    "annotator": _(
                        "Blind review: this project shows you your own reviews "
                        "and the consensus only, so you can filter by your own reviews only."
                    )
                }
            )

    def conditions(self, dialect: str, seen_by: Visibility) -> list[ColumnElement[bool]]:
        """The filters as conditions on `Prediction`, `Sample` and the outer-joined
        `ErrorVerdict` (an error nobody annotated has none: it is queued, unmarked).

        Under blind review a filter on the consensus keeps only errors whose verdict the
        viewer may see, and one on another annotator only errors whose reviews they may
        see (`seen_by`): what a filter matches never tells of a hidden verdict."""
        v = ErrorVerdict
        where: list[ColumnElement[bool]] = []
        if self.on_verdicts and not seen_by.sees_all:
            where.append(seen_by.sees_verdict(Prediction.id))
        for cause_id in sorted(self.causes):
            where.append(
                exists().where(
                    VerdictCause.prediction_id == Prediction.id,
                    VerdictCause.cause_id == cause_id,
                    VerdictCause.chosen,
                )
            )
        if self.label is not None:
            where.append(Sample.label == self.label)
        if self.predicted is not None:
            where.append(Prediction.label == self.predicted)
        if self.annotator is not None:
            where.append(
                exists().where(
                    Annotation.prediction_id == Prediction.id,
                    Annotation.annotator_id == self.annotator,
                    Annotation.kind == AnnotationKind.REVIEW,
                )
            )
            if not seen_by.sees_all:
                where.append(seen_by.sees_marks_of(self.annotator, Prediction.id))
        if self.status is not None and not seen_by.sees_all:
            where.append(_status_seen(seen_by) == self.status.value)
        elif self.status is ErrorStatus.QUEUED:
            where.append(or_(v.status.is_(None), v.status == ErrorStatus.QUEUED.value))
        elif self.status is not None:
            where.append(v.status == self.status.value)
        if self.meta_key is not None:
            where.append(meta_matches(dialect, self.meta_key, self.meta_value or ""))
        if self.label_error:
            where.append(v.label_error.is_(True))
        if self.no_cause:
            where.append(and_(v.examined.is_(True), v.cause_count == 0))
        if self.disagreements:
            where.append(v.disagreement.is_(True))
        return where

    @property
    def needs_sample(self) -> bool:
        return self.label is not None or self.meta_key is not None


def with_ids(
    session: Session, project: Project, items: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Query parameters with causes and annotators named as well as numbered.

    The pages link by id; a notebook knows names (`cause=Blurry&annotator=ann`). A cause
    name matches as the cause form compares them (any case, accents or spacing); a name
    that matches nothing is refused like a bad id.
    """
    causes: dict[str, int] | None = None
    problems: dict[str, str] = {}
    resolved = []
    for key, value in items:
        name = value.strip()
        if key == "cause" and name and whole_number(name) is None:
            if causes is None:
                causes = {fold(c.name): c.id for c in project_causes(session, project)}
            if fold(name) not in causes:
                problems["cause"] = _("The project has no cause named %(name)s.", name=repr(name))
                continue
            value = str(causes[fold(name)])
        elif key == "annotator" and name and whole_number(name) is None:
            user_id = _team_member_id(session, project, name)
            if user_id is None:
                problems["annotator"] = _(
                    "The project has no annotator called %(name)s.", name=repr(name)
                )
                continue
            value = str(user_id)
        resolved.append((key, value))
    if problems:
        raise InvalidInput(problems)
    return resolved


def _team_member_id(session: Session, project: Project, username: str) -> int | None:
    """Someone who is or was on this project's team, or annotated in it (an admin off the
    team, a removed member). Never a site-wide lookup: any member can filter, and must
    not learn from the answer which usernames exist elsewhere on the site."""
    on_team = select(Membership.user_id).where(Membership.project_id == project.id)
    annotated = select(Annotation.annotator_id).where(Annotation.project_id == project.id)
    return session.scalar(
        select(User.id).where(
            User.username == normalize_username(username),
            or_(User.id.in_(on_team), User.id.in_(annotated)),
        )
    )


def _flag(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "on", "yes"}


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


def _status_seen(seen_by: Visibility) -> Any:
    """The status of each error as the viewer sees it (under blind review, their own
    review's until they finished it: `Visibility.status`)."""
    return seen_by.status_seen(func.coalesce(V.status, ErrorStatus.QUEUED.value), Prediction.id)


def _status_order(seen_by: Visibility) -> Any:
    status = V.status if seen_by.sees_all else _status_seen(seen_by)
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
