"""Which rows of the sheet are shown, in which order, one page at a time.

Filters, sort and page come from query parameters with the same names on the page, the
downloads and the API, so every view of the sheet (and its footer) is a URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.domain.accounts.users import get_user_by_username
from app.domain.analysis.sheet import ErrorRow, RunData, Tally, open_run, tally_rows
from app.domain.errors import InvalidInput
from app.domain.projects.access import ProjectAccess
from app.domain.projects.causes import fold, project_causes
from app.domain.review.status import ErrorStatus
from app.models import Project

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
                status = ErrorStatus(params["status"])
            except ValueError:
                known = ", ".join(s.value for s in ErrorStatus)
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
        if key == "cause" and name and not name.isdigit():
            if causes is None:
                causes = {fold(c.name): c.id for c in project_causes(session, project)}
            if fold(name) not in causes:
                problems["cause"] = f"The project has no cause named {name!r}."
                continue
            value = str(causes[fold(name)])
        elif key == "annotator" and name and not name.isdigit():
            user = get_user_by_username(session, name)
            if user is None:
                problems["annotator"] = f"No user is called {name!r}."
                continue
            value = str(user.id)
        resolved.append((key, value))
    if problems:
        raise InvalidInput(problems)
    return resolved


def _flag(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "on", "yes"}


def tally(data: RunData, filters: Filters = Filters()) -> Tally:
    """The footer of the rows the filters keep.

    Shares are of the slice's examined errors (the blurry share among night-time
    images). Ceilings are points of the run's error rate, so a slice's ceiling counts
    its errors against all examined errors of the run: fixing blurry night-time images
    can gain at most e × (their count / all examined errors).
    """
    rows = [r for r in data.rows if filters.matches(r)]
    return tally_rows(data, rows, filtered=filters.active)


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
        "status": lambda r: list(ErrorStatus).index(r.status),
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


def open_sheet(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    filters: Filters,
    sort: Sort,
    page: int = 1,
) -> SheetPage:
    return sheet_page(open_run(session, access, run_name), filters, sort, page)
