"""Imports started in the browser: checked and previewed first, run in the background.

A job lives in a folder under the media folder: the uploaded files and a small
`status.json` that the page polls. Files rather than memory, so that any worker
(or host sharing the media folder) can answer the poll; a status that stops
being refreshed tells the truth after a restart instead of spinning forever.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from app.db import Database
from app.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from app.domain.imports.manifests import (
    PREVIEW_ROWS,
    FolderMedia,
    Limits,
    MediaSource,
    ZipMedia,
    safe_relative_path,
)
from app.domain.imports.pipeline import (
    ImportOptions,
    ImportRefused,
    Upload,
    preview_import,
    run_import,
)
from app.domain.imports.progress import ImportProgress, Phase
from app.domain.imports.store import MediaStore
from app.i18n import format_number
from app.i18n import gettext as _
from app.models import Project

log = logging.getLogger("eyeball")

JOBS_FOLDER = ".imports"
STATUS_FILE = "status.json"
MANIFEST_FILE = "manifest"
IMAGES_ZIP = "images.zip"
IMAGES_FOLDER = "images"
STARTED_FILE = "started"
# A running job refreshes its status at least this often while it works.
HEARTBEAT_SECONDS = 0.5
# ...so one silent for this long died with its server (the longest single step,
# one database flush of a large import, takes seconds).
STALE_SECONDS = 300
KEEP_SECONDS = 24 * 3600
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class JobState(StrEnum):
    CHECKING = "checking"
    CHECKED = "checked"
    IMPORTING = "importing"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ImportJob:
    id: str
    project_id: int
    user_id: int
    manifest_name: str
    images: str | None  # "zip", "folder" or None
    options: dict[str, Any]
    state: JobState = JobState.CHECKING
    phase: str = Phase.READING.value  # a `Phase`; kept as its value in the status file
    done: int = 0
    total: int = 0
    phases: list[dict[str, Any]] = field(default_factory=list)  # finished so far, timed
    preview: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    updated_at: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.state in {JobState.CHECKING, JobState.IMPORTING}

    @property
    def can_start(self) -> bool:
        return self.state is JobState.CHECKED and not self.problems

    @property
    def import_options(self) -> ImportOptions:
        return ImportOptions(**self.options)


def jobs_root(media_dir: Path) -> Path:
    return media_dir / JOBS_FOLDER


def job_folder(media_dir: Path, job_id: str) -> Path:
    if not _JOB_ID.match(job_id):
        raise NotFound(_("No such import."))
    return jobs_root(media_dir) / job_id


def save_job(media_dir: Path, job: ImportJob) -> None:
    job.updated_at = time.time()
    folder = job_folder(media_dir, job.id)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".status-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(job), f)
    # Atomic, so a poll never reads half a status.
    os.replace(tmp, folder / STATUS_FILE)


def _read_job(media_dir: Path, job_id: str) -> ImportJob:
    path = job_folder(media_dir, job_id) / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFound(_("No such import: it may have been cleared away.")) from None
    return ImportJob(**{**data, "state": JobState(data["state"])})


def load_job(media_dir: Path, job_id: str, project: Project, user_id: int) -> ImportJob:
    """The job if it belongs to this project and was started by this user."""
    job = _read_job(media_dir, job_id)
    if job.project_id != project.id or job.user_id != user_id:
        raise NotFound(_("No such import."))
    if job.running and time.time() - job.updated_at > STALE_SECONDS:
        job.state = JobState.FAILED
        job.message = _(
            "The import stopped without finishing (was the server restarted?). "
            "Nothing was imported by it; start it again."
        )
    return job


def _clear_old_jobs(media_dir: Path) -> None:
    root = jobs_root(media_dir)
    if not root.is_dir():
        return
    cutoff = time.time() - KEEP_SECONDS
    for folder in root.iterdir():
        status = folder / STATUS_FILE
        stamp = status.stat().st_mtime if status.exists() else folder.stat().st_mtime
        if stamp < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def create_job(
    media_dir: Path,
    project: Project,
    user_id: int,
    *,
    manifest_name: str,
    images: str | None,
    options: ImportOptions,
) -> tuple[ImportJob, Path]:
    """A new job and the folder its uploads go into (manifest, images.zip or images/)."""
    _clear_old_jobs(media_dir)
    job = ImportJob(
        id=secrets.token_urlsafe(18),
        project_id=project.id,
        user_id=user_id,
        manifest_name=manifest_name,
        images=images,
        options=asdict(options),
    )
    folder = job_folder(media_dir, job.id)
    folder.mkdir(parents=True)
    save_job(media_dir, job)
    return job, folder


def save_manifest(folder: Path, stream: IO[bytes]) -> None:
    with (folder / MANIFEST_FILE).open("wb") as out:
        shutil.copyfileobj(stream, out)


def save_images_zip(folder: Path, stream: IO[bytes]) -> None:
    with (folder / IMAGES_ZIP).open("wb") as out:
        shutil.copyfileobj(stream, out)


@dataclass
class FolderUpload:
    """Files of a folder picked in the browser, written one at a time under the job."""

    folder: Path
    limits: Limits
    count: int = 0
    size: int = 0

    def add(self, browser_name: str, stream: IO[bytes]) -> None:
        # Browsers name each file "<picked folder>/<path inside it>": the manifest's
        # paths are relative to the picked folder, so its own name is dropped.
        inside = browser_name.split("/", 1)[1] if "/" in browser_name else browser_name
        name = safe_relative_path(inside)
        if name is None:
            raise InvalidInput(
                {"folder": _("%(name)s is not a path inside the folder.", name=repr(browser_name))}
            )
        self.count += 1
        if self.count > self.limits.max_entries:
            raise InvalidInput(
                {
                    "folder": _(
                        "The folder holds more than %(most)s files.",
                        most=format_number(self.limits.max_entries),
                    )
                }
            )
        target = self.folder / IMAGES_FOLDER / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            shutil.copyfileobj(stream, out)
            self.size += out.tell()
        if self.size > self.limits.max_bytes:
            raise InvalidInput(
                {
                    "folder": _(
                        "The folder is larger than %(most)s bytes.",
                        most=format_number(self.limits.max_bytes),
                    )
                }
            )


def discard_job(media_dir: Path, job: ImportJob) -> None:
    shutil.rmtree(job_folder(media_dir, job.id), ignore_errors=True)


def _watched(media_dir: Path, job: ImportJob) -> ImportProgress:
    """The pipeline's progress, written to the job's status file for its page to poll,
    at most a few times a second (and at the end of each phase)."""
    last = 0.0

    def write(progress: ImportProgress) -> None:
        nonlocal last
        job.phase, job.done, job.total = progress.phase.value, progress.done, progress.total
        job.phases = progress.phases()
        now = time.monotonic()
        if now - last >= HEARTBEAT_SECONDS or progress.done == progress.total:
            last = now
            save_job(media_dir, job)

    return ImportProgress(on_change=write)


@contextmanager
def _upload(folder: Path, job: ImportJob, limits: Limits) -> Iterator[Upload]:
    """The job's uploaded manifest and images, open for one pass of the pipeline."""
    media = _media(folder, job, limits)
    try:
        with (folder / MANIFEST_FILE).open("rb") as manifest:
            yield Upload(manifest, job.manifest_name, media)
    finally:
        if isinstance(media, ZipMedia):
            media.close()


def _media(folder: Path, job: ImportJob, limits: Limits) -> MediaSource | None:
    if job.images == "zip":
        return ZipMedia(folder / IMAGES_ZIP, limits)
    if job.images == "folder":
        return FolderMedia(folder / IMAGES_FOLDER, limits)
    return None


def _fail(media_dir: Path, job: ImportJob, exc: Exception) -> None:
    job.state = JobState.FAILED
    if isinstance(exc, ImportRefused):
        job.message = exc.message
        job.problems = [p.as_dict() for p in exc.problems]
    elif isinstance(exc, Unavailable):
        # A missing bucket, say: the lead learns it from the job, the log in one line.
        log.warning("import %s stopped: the media store is unavailable: %s", job.id, exc.reason)
        job.message = exc.message
    else:
        job.message = _(
            "The import failed unexpectedly; nothing was imported. (%(error)s)",
            error=exc.__class__.__name__,
        )
    save_job(media_dir, job)


def check_job(
    database: Database, store: MediaStore, project_id: int, job_id: str, limits: Limits
) -> None:
    """Read and check everything, and save the preview. Writes no rows. Runs in a thread."""
    media_dir = store.folder
    folder = job_folder(media_dir, job_id)
    job = _read_job(media_dir, job_id)
    try:
        with _upload(folder, job, limits) as upload:
            preview = preview_import(
                database,
                project_id,
                upload,
                job.import_options,
                store,
                limits=limits,
                progress=_watched(media_dir, job),
            )
    except Exception as exc:
        _fail(media_dir, job, exc)
        if not isinstance(exc, Unavailable):  # said in full by the job's message
            raise
        return
    manifest, plan = preview.manifest, preview.plan
    problems_at: dict[int, list[str]] = {}
    for problem in plan.problems:
        if problem.line is not None:
            where = f"{problem.column}: " if problem.column else ""
            problems_at.setdefault(problem.line, []).append(where + problem.message)
    job.preview = {
        "format": manifest.format,
        "columns": manifest.column_roles(preview.kind),
        # The first rows as read, each with its line, its image's thumbnail and what is
        # wrong with it, so a lead sees the file as Eyeball understood it.
        "rows": [
            {
                "line": row.line,
                "values": {k: _shown(v) for k, v in row.raw.items()},
                "thumbnail": preview.thumbnails.get(row.line),
                "problems": problems_at.get(row.line, []),
            }
            for row in manifest.rows[:PREVIEW_ROWS]
        ],
        "rows_count": plan.rows,
        "errors": plan.errors,
        "evaluated": plan.evaluated,
        "error_rate": plan.error_rate,
        "run_exists": plan.run_exists,
        "samples_created": plan.samples_created,
        "samples_updated": plan.samples_updated,
        "predictions_created": plan.predictions_created,
        "seed": plan.seed,
    }
    if plan.seed is not None:
        # The preview names the seed; the import must then draw with that same seed.
        job.options["seed"] = plan.seed
    job.problems = [p.as_dict() for p in plan.problems]
    job.state = JobState.CHECKED
    save_job(media_dir, job)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def claim_job(media_dir: Path, job: ImportJob) -> None:
    """Mark a checked job as importing; a second confirmation is refused, not run twice."""
    if not job.can_start:
        raise Conflict(_("This import cannot be started: it has problems, or it already ran."))
    try:
        # O_EXCL makes the claim atomic across threads, workers and hosts.
        os.close(os.open(job_folder(media_dir, job.id) / STARTED_FILE, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        raise Conflict(_("This import was already started.")) from None
    job.state = JobState.IMPORTING
    job.phase, job.done, job.total, job.phases = Phase.STARTING.value, 0, 0, []
    save_job(media_dir, job)


def run_job(
    database: Database, store: MediaStore, project_id: int, job_id: str, limits: Limits
) -> None:
    """Check again (the project may have changed since the preview) and import. In a thread."""
    media_dir = store.folder
    folder = job_folder(media_dir, job_id)
    job = _read_job(media_dir, job_id)
    try:
        with _upload(folder, job, limits) as upload:
            summary = run_import(
                database,
                project_id,
                upload,
                job.import_options,
                store,
                limits=limits,
                progress=_watched(media_dir, job),
            )
    except Exception as exc:
        _fail(media_dir, job, exc)
        if not isinstance(exc, ImportRefused | Unavailable):  # those are said in full
            raise
        return
    finally:
        _remove_uploads(folder)
    job.summary = summary.as_dict()
    job.state = JobState.DONE
    job.phase, job.done = Phase.DONE.value, job.total
    save_job(media_dir, job)


def _remove_uploads(folder: Path) -> None:
    """The uploads are not needed once imported; the status stays for the page to show."""
    (folder / MANIFEST_FILE).unlink(missing_ok=True)
    (folder / IMAGES_ZIP).unlink(missing_ok=True)
    shutil.rmtree(folder / IMAGES_FOLDER, ignore_errors=True)
