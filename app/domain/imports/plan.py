"""What an import would do, worked out before anything is written: its options, the
upload it reads, the plan (compared with what the project holds: every conflict a
problem), the review sample it draws, and the summary it answers with. The pipeline
(`pipeline.run_import`) writes what the plan says."""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.domain.analysis.tally import error_rate
from app.domain.errors import InvalidInput, NotFound
from app.domain.imports.bulk import among, batches
from app.domain.imports.manifests import (
    Manifest,
    ManifestRow,
    MediaSource,
    Problem,
)
from app.domain.names import clean_name, name_problem
from app.i18n import format_number, ngettext
from app.i18n import gettext as _
from app.models import Prediction, Project, Run, Sample

_CHUNK = 500  # ids per IN (...) query: well under every database's parameter limit


class ImportRefused(InvalidInput):
    """The import was refused as a whole; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(
            {},
            ngettext(
                "Nothing was imported: %(num)s problem to fix first.",
                "Nothing was imported: %(num)s problems to fix first.",
                count,
            ),
        )
        self.problems = problems


@dataclass(frozen=True)
class ImportOptions:
    run: str
    evaluated: int | None = None  # samples the run was evaluated on; None: work it out
    sample_errors: int | None = None  # review a random sample of this many errors
    seed: int | None = None  # for that sample; drawn (and reported) when not given


@dataclass
class ImportPlan:
    """What an import would do, worked out without writing anything."""

    run_name: str
    run_exists: bool
    rows: int
    errors: int
    evaluated: int | None
    seed: int | None
    samples_created: int = 0
    samples_updated: int = 0
    predictions_created: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.evaluated)


@dataclass(frozen=True)
class ImportSummary:
    run: str
    rows: int
    samples_created: int
    samples_updated: int
    predictions_created: int
    errors: int
    evaluated: int | None
    error_rate: float | None
    queued_for_review: int
    seed: int | None
    # Each phase the import went through, with its item count and seconds
    # (`ImportProgress.phases`); none for an upload answered without reading it.
    phases: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Upload:
    """What an import reads: a manifest (CSV or JSONL) and, for images, where they are."""

    manifest: IO[bytes]
    name: str  # the manifest's file name: it tells CSV from JSONL
    media: MediaSource | None = None


# A way in that speaks in its own terms (the push's `image_base64`) rewrites the
# manifest's problems before they are judged.
ProblemsOf = Callable[[list[Problem]], list[Problem]]


def project_of(session: Session, project_id: int, *, lock: bool = False) -> Project:
    """The project; with `lock`, its row locked on PostgreSQL until the write ends, so
    imports into one project write one after the other and each sees the data version
    the one before left (NO KEY UPDATE: saves, which only reference the row, are not
    held up)."""
    query = select(Project).where(Project.id == project_id)
    project = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if project is None:
        raise NotFound(_("No such project."))
    return project


def check_options(options: ImportOptions) -> list[Problem]:
    problems = []
    if problem := name_problem(clean_name(options.run), "run"):
        problems.append(Problem(None, "run", problem))
    if options.evaluated is not None and options.evaluated < 1:
        problems.append(Problem(None, "evaluated", _("the evaluated count must be at least 1")))
    if options.sample_errors is not None and options.sample_errors < 1:
        problems.append(Problem(None, "sample_errors", _("sample at least 1 error")))
    return problems


# What an import compares with and writes is read and written as plain rows, a batch per
# statement: an ORM object per row cost a 10,000-row import most of its time.
_SAMPLE_COLUMNS = (
    Sample.id,
    Sample.external_id,
    Sample.label,
    Sample.image_sha256,
    Sample.text,
    Sample.record,
    Sample.meta,
)


def _existing_samples(session: Session, project: Project, ids: list[str]) -> dict[str, Any]:
    """The project's samples with these ids, as rows of `_SAMPLE_COLUMNS` (one query)."""
    # A project's first import finds none: one row's look says so, where looking up
    # 10,000 ids took 10 ms on PostgreSQL.
    if (
        not ids
        or session.scalar(select(Sample.id).where(Sample.project_id == project.id).limit(1)) is None
    ):
        return {}
    return {
        sample.external_id: sample
        for sample in session.execute(
            select(*_SAMPLE_COLUMNS).where(
                Sample.project_id == project.id,
                among(session.connection(), Sample.external_id, ids),
            )
        )
    }


def _existing_predictions(
    session: Session, run: Run | None, sample_ids: Iterable[int]
) -> dict[int, Any]:
    """The run's predictions of these samples by sample id, as rows (one query):
    an import into a large run reads what it touches, not the whole run."""
    if run is None:
        return {}
    ids = sorted(sample_ids)
    if not ids:
        return {}
    return {
        p.sample_id: p
        for p in session.execute(
            select(
                Prediction.sample_id,
                Prediction.label,
                Prediction.confidence,
                Prediction.probs,
                Prediction.is_error,
            ).where(
                Prediction.run_id == run.id,
                among(session.connection(), Prediction.sample_id, ids),
            )
        )
    }


def _run_counts(session: Session, run: Run | None) -> tuple[int, int]:
    """How many predictions the run holds, and how many of them are errors."""
    if run is None:
        return 0, 0
    total, errors = session.execute(
        select(
            func.count(Prediction.id), func.count(Prediction.id).filter(Prediction.is_error)
        ).where(Prediction.run_id == run.id)
    ).one()
    return total or 0, errors or 0


def find_run(session: Session, project: Project, name: str) -> Run | None:
    return session.scalar(select(Run).where(Run.project_id == project.id, Run.name == name))


def sample_changes(sample: Any, row: ManifestRow) -> dict[str, Any]:
    """Media and metadata that differ from what is stored (labels are never changed here)."""
    changes: dict[str, Any] = {}
    if row.image is not None and sample.image_sha256 != row.image.sha256:
        changes["image_sha256"] = row.image.sha256
    if row.text is not None and sample.text != row.text:
        changes["text"] = row.text
    if row.record is not None and sample.record != row.record:
        changes["record"] = row.record
    merged = {**sample.meta, **row.meta}
    if merged != sample.meta:
        changes["meta"] = merged
    return changes


def _same_prediction(stored: Any, row: ManifestRow) -> bool:
    return (
        stored.label == row.prediction
        and stored.confidence == row.confidence
        and (stored.probs or None) == (row.probs or None)
    )


@dataclass(frozen=True)
class Stored:
    """What the project holds of an import's rows, as rows: its samples by id, and the
    run's predictions of them by sample id; read at the project's `data_version`."""

    samples: dict[str, Any]
    predictions: dict[int, Any]
    version: int


@dataclass(frozen=True)
class Planned:
    """A plan and what it read, for the write to go on from while nothing changed."""

    plan: ImportPlan
    stored: Stored


def plan_import(
    session: Session, project: Project, manifest: Manifest, options: ImportOptions
) -> tuple[ImportPlan, Stored]:
    """The plan, and what it read of the project: the write goes on from there rather
    than read it all again while it holds the write lock."""
    name = clean_name(options.run)
    problems = [*check_options(options), *manifest.problems]
    run = find_run(session, project, name) if name else None
    rows = manifest.rows
    seed = options.seed
    if options.sample_errors is not None and seed is None:
        seed = secrets.randbelow(2**31)
    plan = ImportPlan(
        run_name=name,
        run_exists=run is not None,
        rows=len(rows),
        errors=0,
        evaluated=None,
        seed=seed,
    )
    # Conflicts are looked for even when some rows are wrong: the answer lists every problem.
    existing = _existing_samples(session, project, [r.external_id for r in rows if r.external_id])
    stored_predictions = _existing_predictions(session, run, (s.id for s in existing.values()))
    new_errors = 0
    for row in rows:
        if not row.external_id:
            continue
        sample = existing.get(row.external_id)
        if sample is None:
            plan.samples_created += 1
            plan.predictions_created += 1
            new_errors += row.is_error
            continue
        if sample.label != row.label:
            problems.append(
                Problem(
                    row.line,
                    "label",
                    _(
                        "conflict: sample %(id)s is stored with label %(stored)s, this import "
                        "says %(label)s; stored labels are not overwritten",
                        id=repr(row.external_id),
                        stored=repr(sample.label),
                        label=repr(row.label),
                    ),
                )
            )
            continue
        if sample_changes(sample, row):
            plan.samples_updated += 1
        stored = stored_predictions.get(sample.id)
        if stored is None:
            plan.predictions_created += 1
            new_errors += row.is_error
        elif not _same_prediction(stored, row):
            problems.append(
                Problem(
                    row.line,
                    "prediction",
                    _(
                        "conflict: run %(run)s already holds a different prediction for "
                        "%(id)s (%(stored)s); import it as a new run",
                        run=repr(name),
                        id=repr(row.external_id),
                        stored=repr(stored.label),
                    ),
                )
            )

    # The error rate is the run's, which may hold samples of earlier imports too.
    held, held_errors = _run_counts(session, run)
    run_size = held + plan.predictions_created
    plan.errors = held_errors + new_errors
    if options.evaluated is not None:
        plan.evaluated = options.evaluated
        if options.evaluated < run_size:
            problems.append(
                Problem(
                    None,
                    "evaluated",
                    _(
                        "%(evaluated)s evaluated samples, but the run would hold %(size)s",
                        evaluated=options.evaluated,
                        size=run_size,
                    ),
                )
            )
    elif manifest.lists_correct_samples:
        # Correct samples are listed, so every evaluated sample is stored with the run
        # (unless an earlier errors-only import gave a larger count: that one stands).
        plan.evaluated = max(run_size, run.evaluated or 0) if run is not None else run_size
    elif run is not None:
        plan.evaluated = run.evaluated  # nothing says otherwise: the count given before stands
        if run.evaluated is not None and plan.predictions_created:
            # New errors on an old count would raise the error rate without the model
            # having been run on more samples (one run showed 150 %).
            problems.append(
                Problem(
                    None,
                    "evaluated",
                    _(
                        "run %(run)s was evaluated on %(evaluated)s samples; this import adds "
                        "%(added)s predictions but lists only errors, so give the number of "
                        "samples the run is evaluated on now (evaluated)",
                        run=repr(name),
                        evaluated=format_number(run.evaluated),
                        added=format_number(plan.predictions_created),
                    ),
                )
            )
    plan.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or ""))
    return plan, Stored(existing, stored_predictions, project.data_version)


def choose_for_review(external_ids: list[str], count: int | None, seed: int | None) -> set[str]:
    """A uniformly random sample of `count` errors, the same for the same seed and ids."""
    if count is None or count >= len(external_ids):
        return set(external_ids)
    return set(random.Random(seed).sample(sorted(external_ids), count))


def review_key(queue_seed: int, external_id: str) -> bytes:
    """A sample's place in the project's fixed random order: the same in every run."""
    return hashlib.sha256(f"{queue_seed}:{external_id}".encode()).digest()


def renumber_review_order(session: Session, project: Project, run: Run) -> int:
    rows = session.execute(
        select(Prediction.id, Sample.external_id, Prediction.review_order)
        .join(Sample, Sample.id == Prediction.sample_id)
        .where(Prediction.run_id == run.id, Prediction.in_review)
    ).all()
    ordered = sorted(rows, key=lambda r: review_key(project.queue_seed, r.external_id))
    moved = [
        {"id": r.id, "review_order": position}
        for position, r in enumerate(ordered)
        if r.review_order != position
    ]
    for batch in batches(moved):
        session.execute(update(Prediction), batch)
    return len(ordered)


def queue_sample(session: Session, run: Run, sample_errors: int, seed: int | None) -> int:
    """Top the run's review sample up to `sample_errors` from its errors not yet under
    review, so a larger number on a later import adds errors that were stored but left
    out. Returns how many were added."""
    waiting: dict[str, int] = {
        r.external_id: r.id
        for r in session.execute(
            select(Sample.external_id, Prediction.id)
            .join(Sample, Sample.id == Prediction.sample_id)
            .where(Prediction.run_id == run.id, Prediction.is_error, ~Prediction.in_review)
        )
    }
    already = session.scalar(
        select(func.count(Prediction.id)).where(Prediction.run_id == run.id, Prediction.in_review)
    )
    wanted = max(0, sample_errors - (already or 0))
    picked = sorted(choose_for_review(sorted(waiting), wanted, seed))
    for batch in batches(picked):
        session.execute(update(Prediction), [{"id": waiting[e], "in_review": True} for e in batch])
    return len(picked)
