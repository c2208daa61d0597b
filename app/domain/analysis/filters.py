"""A sheet view's filters: what they are (`Filters`, read from the URL's query parameters
by `parse_view`), and the SQL conditions they put on the stored verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.domain.accounts.users import normalize_username
from app.domain.analysis.metadata import meta_matches
from app.domain.errors import InvalidInput
from app.domain.numbers import whole_number
from app.domain.projects.causes import fold, project_causes
from app.domain.review.visibility import Visibility
from app.domain.verdicts import ErrorStatus, Facet, fits
from app.i18n import gettext as _
from app.models import (
    Annotation,
    AnnotationKind,
    ErrorVerdict,
    Membership,
    Prediction,
    Project,
    Sample,
    User,
    VerdictCause,
)

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
            where.append(status_seen(seen_by) == self.status.value)
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


def status_seen(seen_by: Visibility) -> Any:
    """The status of each error as the viewer sees it (under blind review, their own
    review's until they finished it: `Visibility.status`)."""
    return seen_by.status_seen(
        func.coalesce(ErrorVerdict.status, ErrorStatus.QUEUED.value), Prediction.id
    )
