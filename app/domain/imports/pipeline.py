"""Importing an eyeball set: `run_import`, the one way in behind the import page, the
REST import and push, the CLI and the demo (`preview_import` is its check alone).

All or nothing: the manifest and its images are checked completely (see
`app.domain.imports.manifests`), then compared with what the project already holds; any
problem refuses the whole import and lists every problem. Only then are rows
written, in one write transaction of the pipeline's own.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
import json
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.orm import Session

from app import metrics
from app.db import Database
from app.domain import verdicts
from app.domain.analysis.label_suspects import p_label
from app.domain.analysis.tally import error_rate
from app.domain.errors import InvalidInput, NotFound
from app.domain.imports.bulk import among, batches, insert_rows
from app.domain.imports.manifests import (
    PREVIEW_ROWS,
    Limits,
    Manifest,
    ManifestRow,
    MediaSource,
    Problem,
    read_manifest,
)
from app.domain.imports.media import (
    KnownImage,
    StagedImage,
    known_images,
    place_staged,
    record_archive,
    store_staged,
)
from app.domain.imports.progress import ImportProgress, Phase, Progress
from app.domain.imports.store import MediaStore, thumbnail_key
from app.domain.names import clean_name, name_problem
from app.domain.projects.access import require_open
from app.domain.projects.runs import data_changed
from app.i18n import format_number, ngettext
from app.i18n import gettext as _
from app.models import Annotation, Prediction, Project, Run, Sample, SampleKind, utcnow

STAGING_FOLDER = ".staging"


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


def staging_root(media_dir: Path) -> Path:
    return media_dir / STAGING_FOLDER


@contextmanager
def staging_folder(media_dir: Path) -> Iterator[Path]:
    """A private folder inside the media folder, removed afterwards whatever happens.

    Inside the media folder so that confirmed images move into place by rename.
    """
    root = staging_root(media_dir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    folder = Path(tempfile.mkdtemp(dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# No import checks for a day: a staging folder that old was left by a server that died
# (kill -9, power loss) in the middle of one, and would otherwise stay for ever.
STALE_STAGING_SECONDS = 24 * 3600


def _remove_stale(root: Path) -> None:
    cutoff = time.time() - STALE_STAGING_SECONDS
    for folder in root.iterdir():
        try:
            stale = folder.is_dir() and folder.stat().st_mtime < cutoff
        except FileNotFoundError:  # another import removed it meanwhile
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


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


def _find_run(session: Session, project: Project, name: str) -> Run | None:
    return session.scalar(select(Run).where(Run.project_id == project.id, Run.name == name))


def _sample_changes(sample: Any, row: ManifestRow) -> dict[str, Any]:
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
class _Stored:
    """What the project holds of an import's rows, as rows: its samples by id, and the
    run's predictions of them by sample id; read at the project's `data_version`."""

    samples: dict[str, Any]
    predictions: dict[int, Any]
    version: int


@dataclass(frozen=True)
class _Planned:
    """A plan and what it read, for the write to go on from while nothing changed."""

    plan: ImportPlan
    stored: _Stored


def _plan(
    session: Session, project: Project, manifest: Manifest, options: ImportOptions
) -> tuple[ImportPlan, _Stored]:
    """The plan, and what it read of the project: the write goes on from there rather
    than read it all again while it holds the write lock."""
    name = clean_name(options.run)
    problems = [*check_options(options), *manifest.problems]
    run = _find_run(session, project, name) if name else None
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
        if _sample_changes(sample, row):
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
    return plan, _Stored(existing, stored_predictions, project.data_version)


def choose_for_review(external_ids: list[str], count: int | None, seed: int | None) -> set[str]:
    """A uniformly random sample of `count` errors, the same for the same seed and ids."""
    if count is None or count >= len(external_ids):
        return set(external_ids)
    return set(random.Random(seed).sample(sorted(external_ids), count))


def review_key(queue_seed: int, external_id: str) -> bytes:
    """A sample's place in the project's fixed random order: the same in every run."""
    return hashlib.sha256(f"{queue_seed}:{external_id}".encode()).digest()


def _renumber_review_order(session: Session, project: Project, run: Run) -> int:
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


def _queue_sample(session: Session, run: Run, sample_errors: int, seed: int | None) -> int:
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


def _apply(
    session: Session,
    project: Project,
    manifest: Manifest,
    options: ImportOptions,
    progress: Progress | None = None,
    planned: _Planned | None = None,
) -> ImportSummary:
    """Write a checked manifest (its images, files and media rows, in the store already)
    in the caller's transaction, or refuse it whole.

    `planned`, made in an earlier (read) transaction, is written as is when the project's
    data did not change since; otherwise the import is planned again here.
    """
    require_open(project)
    if planned is not None and planned.stored.version == project.data_version:
        plan, stored = planned.plan, planned.stored
    else:
        plan, stored = _plan(session, project, manifest, options)
    if plan.problems:
        raise ImportRefused(plan.problems)
    data_changed(session, project.id)
    total = len(manifest.rows)
    report = progress or (lambda _phase, _done, _total: None)
    report(Phase.SAVING, 0, total)

    run = _find_run(session, project, plan.run_name)
    new_run = run is None
    if run is None:
        run = Run(project_id=project.id, name=plan.run_name, evaluated=plan.evaluated)
        session.add(run)
        session.flush()
    elif plan.evaluated is not None and run.evaluated != plan.evaluated:
        run.evaluated = plan.evaluated

    existing, stored_predictions = stored.samples, stored.predictions
    new_rows: list[ManifestRow] = []
    changed: list[dict[str, Any]] = []
    for row in manifest.rows:
        sample = existing.get(row.external_id)
        if sample is None:
            new_rows.append(row)
        elif changes := _sample_changes(sample, row):
            changed.append({"id": sample.id, **changes})
    now = utcnow()
    # Core statements on the table: the ORM's bulk insert still handles each row.
    db = session.connection()
    samples, predictions = cast(Table, Sample.__table__), cast(Table, Prediction.__table__)
    sample_ids = {external_id: sample.id for external_id, sample in existing.items()}
    # Insert values are built as they are written (generators): for 100,000 rows, all
    # at once doubled the import's memory; and one statement (COPY) for all of them lets
    # PostgreSQL store rows while the next are built.
    sample_rows = (
        {
            "project_id": project.id,
            "external_id": row.external_id,
            "label": row.label,
            "image_sha256": row.image.sha256 if row.image is not None else None,
            "text": row.text,
            "record": row.record,
            "metadata": row.meta,
            "created_at": now,
            "updated_at": now,
        }
        for row in new_rows
    )
    sample_ids.update(insert_rows(db, samples, sample_rows, "external_id", count=len(new_rows)))
    for batch in batches(changed):
        session.execute(update(Sample), [{**c, "updated_at": now} for c in batch])
    report(Phase.SAVING, total // 2, total)

    # Without `sample_errors` every new error is reviewed.
    everyone = options.sample_errors is None
    predicted = [r for r in manifest.rows if sample_ids[r.external_id] not in stored_predictions]
    # A new run holds this import's predictions only, so which of its errors go under
    # review, and in what order, is known before they are written, and they are written
    # so: choosing them from the stored rows, then numbering them, took two reads and
    # two UPDATEs after the insert (25 ms of a 10,000-row import on PostgreSQL).
    order: dict[str, int] | None = None
    if new_run:
        chosen = choose_for_review(
            [row.external_id for row in predicted if row.is_error],
            options.sample_errors,
            plan.seed,
        )
        ranked = sorted(chosen, key=lambda e: review_key(project.queue_seed, e))
        order = {external_id: position for position, external_id in enumerate(ranked)}
    insert_rows(
        db,
        predictions,
        (
            {
                "project_id": project.id,
                "run_id": run.id,
                "sample_id": sample_ids[row.external_id],
                "label": row.prediction,
                "confidence": row.confidence,
                "probs": row.probs,
                "p_label": p_label(row.probs, row.label),
                "is_error": row.is_error,
                "in_review": row.external_id in order
                if order is not None
                else everyone and row.is_error,
                "review_order": order.get(row.external_id) if order is not None else None,
            }
            for row in predicted
        ),
        count=len(predicted),
    )
    if order is not None:
        queued_now = len(order)
    elif options.sample_errors is None:
        queued_now = sum(1 for row in predicted if row.is_error)
    else:
        queued_now = _queue_sample(session, run, options.sample_errors, plan.seed)

    if new_rows or predicted or plan.samples_updated or queued_now:
        run.last_import_at = utcnow()
    queued = len(order) if order is not None else _renumber_review_order(session, project, run)
    verdicts.recount_errors(session, [run.id])
    if changed:
        # A sample's new metadata moves its errors' verdicts between facets, in every
        # run that has it.
        runs = {run.id}
        for batch in batches([c["id"] for c in changed]):
            runs.update(
                session.scalars(
                    select(Prediction.run_id).where(Prediction.sample_id.in_(batch)).distinct()
                )
            )
        verdicts.recount_facets(session, runs)
    elif predicted or queued_now:
        verdicts.count_facet_errors(session, [run.id])  # new errors under review
    report(Phase.SAVING, total, total)
    return ImportSummary(
        run=run.name,
        rows=plan.rows,
        samples_created=plan.samples_created,
        samples_updated=plan.samples_updated,
        predictions_created=len(predicted),
        errors=plan.errors,
        evaluated=plan.evaluated,
        error_rate=plan.error_rate,
        queued_for_review=queued,
        seed=plan.seed,
    )


@dataclass(frozen=True)
class Upload:
    """What an import reads: a manifest (CSV or JSONL) and, for images, where they are."""

    manifest: IO[bytes]
    name: str  # the manifest's file name: it tells CSV from JSONL
    media: MediaSource | None = None


# A way in that speaks in its own terms (the push's `image_base64`) rewrites the
# manifest's problems before they are judged.
ProblemsOf = Callable[[list[Problem]], list[Problem]]


def _project(session: Session, project_id: int, *, lock: bool = False) -> Project:
    """The project; with `lock`, its row locked on PostgreSQL until the write ends, so
    imports into one project write one after the other and each sees the data version
    the one before left (NO KEY UPDATE: saves, which only reference the row, are not
    held up)."""
    query = select(Project).where(Project.id == project_id)
    project = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if project is None:
        raise NotFound(_("No such project."))
    return project


def _check(
    database: Database,
    project_id: int,
    upload: Upload,
    options: ImportOptions,
    staging: Path,
    store: MediaStore,
    limits: Limits,
    progress: Progress | None,
    problems_of: ProblemsOf | None,
) -> tuple[Manifest, _Planned, SampleKind]:
    """Read and check the upload into `staging`, and plan it, in read transactions."""
    with database.transaction(read_only=True) as session:
        project = _project(session, project_id)
        kind, labels = project.kind, list(project.labels)
    manifest = read_manifest(
        upload.manifest,
        upload.name,
        kind=kind,
        labels=labels,
        media=upload.media,
        staging_dir=staging,
        store=store,
        limits=limits,
        progress=progress,
        known=lambda digests: _known(database, digests),
    )
    if problems_of is not None:
        manifest.problems = problems_of(manifest.problems)
    with database.transaction(read_only=True) as session:
        plan, stored = _plan(session, _project(session, project_id), manifest, options)
    return manifest, _Planned(plan, stored), kind


def _known(database: Database, digests: list[str]) -> dict[str, KnownImage]:
    with database.transaction(read_only=True) as session:
        return known_images(session, digests)


@dataclass(frozen=True)
class Preview:
    """What an import would do, and its first rows with their images' thumbnails."""

    manifest: Manifest
    plan: ImportPlan
    kind: SampleKind
    thumbnails: dict[int, str]  # manifest line -> the thumbnail as a data: URL


def preview_import(
    database: Database,
    project_id: int,
    upload: Upload,
    options: ImportOptions,
    store: MediaStore,
    *,
    limits: Limits = Limits(),
    progress: Progress | None = None,
) -> Preview:
    """Read and check everything and say what the import would do. Writes nothing."""
    with staging_folder(store.folder) as staging:
        manifest, planned, kind = _check(
            database, project_id, upload, options, staging, store, limits, progress, None
        )
        # Read now: the staging folder goes when the check is done.
        thumbnails = {
            row.line: uri
            for row in manifest.rows[:PREVIEW_ROWS]
            if row.image is not None and (uri := _thumbnail_uri(row.image, store))
        }
        return Preview(manifest, planned.plan, kind, thumbnails)


def _thumbnail_uri(image: StagedImage, store: MediaStore) -> str | None:
    if image.thumbnail is not None and image.thumbnail.exists():
        data: bytes | None = image.thumbnail.read_bytes()
    else:
        data = store.read(thumbnail_key(image.sha256))
    if data is None:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


# --- the same upload again ------------------------------------------------------------
#
# Importing the upload that was last applied to a run, while nothing has changed since,
# changes nothing: the check would accept it again (same bytes, options, labels and
# limits), every sample and prediction it names is stored as it says, and the review
# sample is full. So the answer is known without reading it: the write records, on the
# run, a key of everything that decides the outcome, taken right after it; an import
# whose key is that one answers from the run's stored counts. Every write to a project's
# runs, samples or predictions moves its `data_version` on (`runs.data_changed`; every
# import does, even one that adds nothing), so another import, a run edited or created
# changes the key; so does any annotation saved in the project (they do not change what
# an import reads, but a shortcut taken only when nothing at all happened is easy to
# trust). Images sent as a folder are never fingerprinted: its files may change under
# the same names. The media store's files are not looked at again either: they are
# content-addressed and never deleted.


def _upload_fingerprint(upload: Upload, options: ImportOptions, limits: Limits) -> str | None:
    """A sha-256 of what decides an import's outcome outside the database: the manifest's
    bytes and name, the images' archive, the options and the limits; None when the
    images have no digest of their own (a folder, or images sent inside the request)."""
    media_digest = None
    if upload.media is not None:
        media_digest = upload.media.digest()
        if media_digest is None:
            return None
    stream = upload.manifest
    stream.seek(0)  # as `read_manifest` does: the manifest is read from its start
    manifest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        manifest.update(chunk)
    stream.seek(0)
    return _sha256_of_json(
        [
            manifest.hexdigest(),
            upload.name,
            media_digest,
            clean_name(options.run),
            options.evaluated,
            options.sample_errors,
            options.seed,
            dataclasses.astuple(limits),
        ]
    )


def _sha256_of_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


def _state_key(session: Session, project: Project, fingerprint: str) -> str:
    """The upload's fingerprint with the project's state as this session sees it."""
    version = session.scalar(select(Project.data_version).where(Project.id == project.id))
    annotations = session.execute(
        select(
            func.count(Annotation.id),
            func.max(Annotation.id),
            func.sum(Annotation.version),
            func.max(Annotation.updated_at),
        ).where(Annotation.project_id == project.id)
    ).one()
    return _sha256_of_json(
        [
            fingerprint,
            project.kind.value,
            list(project.labels),
            project.queue_seed,
            version,
            list(annotations),
        ]
    )


def _remember(
    session: Session, project: Project, run_name: str, fingerprint: str, rows: int
) -> None:
    """Record, at the end of an import's write, what was applied to the run."""
    session.execute(
        update(Run)
        .where(Run.project_id == project.id, Run.name == run_name)
        .values(last_import_key=_state_key(session, project, fingerprint), last_import_rows=rows)
        .execution_options(synchronize_session=False)
    )


def _unchanged(
    database: Database, project_id: int, fingerprint: str, options: ImportOptions
) -> ImportSummary | None:
    """The summary of an import known to change nothing (see above), or None when it
    must be read and checked in full."""
    with database.transaction(read_only=True) as session:
        project = _project(session, project_id)
        if project.is_archived:
            return None  # the full path says why nothing may be imported
        run = _find_run(session, project, clean_name(options.run))
        if run is None or run.last_import_key is None or run.last_import_rows is None:
            return None
        if run.last_import_key != _state_key(session, project, fingerprint):
            return None
        seed = options.seed
        if options.sample_errors is not None and seed is None:
            seed = secrets.randbelow(2**31)  # as `_plan` draws it (nothing is left to draw)
        # The run's counts are those its last import left, recounted at its end
        # (`verdicts.recount_errors`); the evaluated count is the one it set.
        return ImportSummary(
            run=run.name,
            rows=run.last_import_rows,
            samples_created=0,
            samples_updated=0,
            predictions_created=0,
            errors=run.errors,
            evaluated=run.evaluated,
            error_rate=error_rate(run.errors, run.evaluated),
            queued_for_review=run.in_review,
            seed=seed,
        )


def run_import(
    database: Database,
    project_id: int,
    upload: Upload,
    options: ImportOptions,
    store: MediaStore,
    *,
    limits: Limits = Limits(),
    progress: ImportProgress | None = None,
    problems_of: ProblemsOf | None = None,
) -> ImportSummary:
    """The one way in, for the import page's job, the REST import and push, the CLI and
    the demo: read and check everything, in a read session and a staging area of its
    own; then, if nothing is wrong, write it all in one short write transaction (or
    nothing: `ImportRefused` lists every problem).

    The images are checked before the write transaction opens, so however long that
    takes, annotators' saves never wait for it (on SQLite a writer holds the one lock).
    The upload last applied to the run, sent again while nothing changed, is answered
    at once (see `_unchanged`).

    `progress` hears every phase as it goes (the page's job and the CLI give one to
    watch it); the summary's `phases` are read from it at the end.
    """
    record = progress if progress is not None else ImportProgress()
    # A way in with problems of its own (`problems_of`: the push's) may refuse what the
    # same manifest would pass: its uploads are always read in full.
    fingerprint = None if problems_of else _upload_fingerprint(upload, options, limits)
    if fingerprint is not None:
        known = _unchanged(database, project_id, fingerprint, options)
        if known is not None:
            metrics.IMPORTS.labels("imported").inc()
            record.finish()
            return known
    try:
        with staging_folder(store.folder) as staging:
            manifest, planned, _unused = _check(
                database,
                project_id,
                upload,
                options,
                staging,
                store,
                limits,
                record,
                problems_of,
            )
            if planned.plan.problems:
                raise ImportRefused(planned.plan.problems)
            # Outside the write transaction (see `place_staged`), and only once the import
            # is known to be accepted, so a refused one stores no file. (Should the project
            # change in between, the write plans again; a refusal then leaves the files
            # unreferenced.)
            images = [r.image for r in manifest.rows if r.image is not None]
            record(Phase.SAVING, 0, len(manifest.rows))
            place_staged(store, images)
            # The media rows too, in transactions of their own: like the files, they are
            # facts about content, harmless if the import's write then fails. A thousand
            # at a time, so that on SQLite annotators' saves get the write lock between
            # them (10,000 at once held it 0.18 s).
            for batch in batches(images):
                with database.transaction() as session:
                    store_staged(session, batch)
            if manifest.media_digest is not None:
                record_archive(
                    store,
                    manifest.media_digest,
                    {
                        r.image_path: r.image.sha256
                        for r in manifest.rows
                        if r.image and r.image_path
                    },
                )
            with _collector_paused(), database.transaction() as session:
                project = _project(session, project_id, lock=True)
                summary = _apply(session, project, manifest, options, record, planned)
                if fingerprint is not None:
                    _remember(session, project, summary.run, fingerprint, summary.rows)
    except ImportRefused:
        metrics.IMPORTS.labels("refused").inc()
        raise
    metrics.IMPORTS.labels("imported").inc()
    _refresh_statistics(database, summary.samples_created + summary.predictions_created)
    record.finish()
    return dataclasses.replace(summary, phases=record.phases())


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the import holds the write lock: building a
    large import's rows set off full collections over all of its objects, a third of
    the write's time (10,000 rows: 0.1 s of 0.3 s). Reference counting still frees
    what the import drops; the collector resumes, and catches up, right after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _refresh_statistics(database: Database, inserted: int) -> None:
    """On PostgreSQL, have the planner count the rows a large import added.

    Autovacuum analyses a table only after a while; until then the planner takes a
    freshly filled table for the near-empty one it last saw, and the next batches'
    lookups and foreign-key checks slow down threefold as the table grows.
    """
    if database.is_sqlite or inserted < 1_000:
        return
    with database.engine.connect() as connection:
        known = connection.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'prediction'")
        )
        if known is None or inserted > 0.2 * max(float(known), 0.0):
            connection.execute(text("ANALYZE sample, prediction"))
            connection.commit()
