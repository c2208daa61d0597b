"""A project's runs: what they are called, what they were evaluated on, what they reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.names import clean_name, name_problem
from app.domain.numbers import MAX_INT, whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.review.status import RunProgress, run_progress
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.models import METRIC_FIELDS, Prediction, Project, Run

LATEST = "latest"


# Shown on the runs page (translated each time it is shown).
METRIC_LABELS: dict[str, Any] = {
    "human_error": lazy_gettext("Human-level error"),
    "training_error": lazy_gettext("Training error"),
    "blackbox_error": lazy_gettext("Blackbox (dev) error"),
    "test_error": lazy_gettext("Test error"),
    "augmented_training_error": lazy_gettext("Augmented training error"),
    "augmented_validation_error": lazy_gettext("Augmented validation error"),
}


def parse_percent(text: str) -> float | None:
    """'2.5' or '2.5%' as the fraction 0.025; blank as unknown."""
    cleaned = text.strip().removesuffix("%").strip().replace(",", ".")
    if not cleaned:
        return None
    value = float(cleaned)  # ValueError is turned into a field message by the caller
    if not 0 <= value <= 100:
        raise ValueError(value)
    return value / 100


@dataclass(frozen=True)
class RunFields:
    name: str
    description: str
    evaluated: int | None
    metrics: dict[str, float | None]

    @classmethod
    def checked(
        cls,
        *,
        name: str,
        description: str = "",
        evaluated: int | None = None,
        metrics: Mapping[str, float | None] | None = None,
        problems: dict[str, str] | None = None,
    ) -> RunFields:
        """Metrics are fractions (0.025 for 2.5%); unknown metric names are refused."""
        problems = dict(problems or {})
        name = clean_name(name)
        if problem := name_problem(name, "run"):
            problems["name"] = problem
        if evaluated is not None and evaluated < 0:
            problems["evaluated"] = _("A count cannot be negative.")
        elif evaluated is not None and evaluated > MAX_INT:
            problems["evaluated"] = _("At most %(most)s samples.", most=format(MAX_INT, ","))
        given = dict(metrics or {})
        unknown = sorted(set(given) - set(METRIC_FIELDS))
        if unknown:
            problems["metrics"] = _(
                "Unknown metrics: %(unknown)s. Known: %(known)s.",
                unknown=", ".join(unknown),
                known=", ".join(METRIC_FIELDS),
            )
        for metric, value in given.items():
            if metric in METRIC_FIELDS and value is not None and not 0 <= value <= 1:
                problems[metric] = _("A fraction between 0 and 1 (0.025 for 2.5%), or null.")
        if problems:
            raise InvalidInput(problems)
        return cls(
            name=name,
            description=description.strip(),
            evaluated=evaluated,
            metrics={metric: given.get(metric) for metric in METRIC_FIELDS},
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> RunFields:
        """Metrics typed as percentages ('2.5' or '2.5%')."""
        problems: dict[str, str] = {}
        evaluated: int | None = None
        raw = form.get("evaluated", "").strip().replace(",", "").replace("_", "")
        if raw:
            evaluated = whole_number(raw)
            if evaluated is None:
                problems["evaluated"] = _("A whole number of samples, or blank if unknown.")
        metrics: dict[str, float | None] = {}
        for metric in METRIC_FIELDS:
            try:
                metrics[metric] = parse_percent(form.get(metric, ""))
            except ValueError:
                problems[metric] = _("A percentage between 0 and 100, or blank.")
        return cls.checked(
            name=form.get("name", ""),
            description=form.get("description", ""),
            evaluated=evaluated,
            metrics=metrics,
            problems=problems,
        )


def get_run(session: Session, access: ProjectAccess, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None or run.project_id != access.project.id:
        raise NotFound(_("No such run in this project."))
    return run


def run_table(session: Session, access: ProjectAccess) -> list[RunProgress]:
    """Every run with its counts, newest first."""
    return [
        run_progress(session, access.project, run)
        for run in reversed(runs_of(session, access.project))
    ]


def data_changed(session: Session, project_id: int) -> None:
    """Say that the project's runs, samples or predictions are being changed: an import
    planned before this no longer writes its plan as is. Called before touching them,
    so the project row is always locked before a run's (no deadlock on PostgreSQL)."""
    session.execute(
        update(Project)
        .where(Project.id == project_id)
        .values(data_version=Project.data_version + 1)
        .execution_options(synchronize_session=False)
    )


def create_run(session: Session, access: ProjectAccess, fields: RunFields) -> Run:
    """Register a run before its predictions arrive (a notebook after each training)."""
    access.require_open_lead()
    data_changed(session, access.project.id)
    _check_name_free(session, access.project.id, fields.name)
    run = Run(project_id=access.project.id, name=fields.name)
    _apply(run, fields)
    session.add(run)
    session.flush()
    return run


def _check_name_free(
    session: Session, project_id: int, name: str, run_id: int | None = None
) -> None:
    query = select(Run.id).where(Run.project_id == project_id, Run.name == name)
    if run_id is not None:
        query = query.where(Run.id != run_id)
    if session.scalar(query) is not None:
        raise Conflict(_("Another run is already called %(name)s.", name=repr(name)), field="name")


def _apply(run: Run, fields: RunFields) -> None:
    run.name = fields.name
    run.description = fields.description
    run.evaluated = fields.evaluated
    for metric, value in fields.metrics.items():
        setattr(run, metric, value)


def update_run(session: Session, access: ProjectAccess, run_id: int, fields: RunFields) -> Run:
    access.require_open_lead()
    data_changed(session, access.project.id)
    run = get_run(session, access, run_id)
    _check_name_free(session, run.project_id, fields.name, run.id)
    if fields.evaluated is not None:
        stored = session.scalar(select(func.count()).where(Prediction.run_id == run.id)) or 0
        if fields.evaluated < stored:
            raise InvalidInput(
                {
                    "evaluated": _(
                        "At least %(count)s: that many predictions were imported.", count=stored
                    )
                }
            )
    _apply(run, fields)
    session.flush()
    return run


def set_default_run(session: Session, access: ProjectAccess, run_id: int | None) -> Run | None:
    """Choose the run the project page opens on; None goes back to the newest."""
    access.require_open_lead()
    chosen = get_run(session, access, run_id) if run_id is not None else None
    # Cleared first and flushed: the unique index allows only one default at a time.
    session.execute(
        update(Run)
        .where(Run.project_id == access.project.id, Run.is_default)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    if chosen is not None:
        chosen.is_default = True
        session.flush()
    return chosen


def runs_of(session: Session, project: Project) -> list[Run]:
    return list(
        session.scalars(
            select(Run).where(Run.project_id == project.id).order_by(Run.created_at, Run.id)
        )
    )


def resolve_run(session: Session, project: Project, name: str) -> Run:
    """A run by name; `latest` is the newest one."""
    query = select(Run).where(Run.project_id == project.id)
    if name == LATEST:
        run = session.scalar(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(1))
    else:
        run = session.scalar(query.where(Run.name == name))
    if run is None:
        raise NotFound(_("The project has no run named %(name)s.", name=repr(name)))
    return run


def home_run(session: Session, project: Project) -> Run | None:
    """The run the project page opens on: the one a lead chose, else the newest."""
    chosen = session.scalar(select(Run).where(Run.project_id == project.id, Run.is_default))
    if chosen is not None:
        return chosen
    try:
        return resolve_run(session, project, LATEST)
    except NotFound:
        return None
