"""The same upload again: `unchanged_summary` answers an import known to change nothing
without reading it, from the key `remember` stored at the end of the run's last import
(why that is safe: the comment below)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.analysis.tally import error_rate
from app.domain.imports.manifests import (
    Limits,
)
from app.domain.imports.plan import ImportOptions, ImportSummary, Upload, find_run, project_of
from app.domain.names import clean_name
from app.models import Annotation, Project, Run

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


def upload_fingerprint(upload: Upload, options: ImportOptions, limits: Limits) -> str | None:
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


def remember(
    session: Session, project: Project, run_name: str, fingerprint: str, rows: int
) -> None:
    """Record, at the end of an import's write, what was applied to the run."""
    session.execute(
        update(Run)
        .where(Run.project_id == project.id, Run.name == run_name)
        .values(last_import_key=_state_key(session, project, fingerprint), last_import_rows=rows)
        .execution_options(synchronize_session=False)
    )


def unchanged_summary(
    database: Database, project_id: int, fingerprint: str, options: ImportOptions
) -> ImportSummary | None:
    """The summary of an import known to change nothing (see above), or None when it
    must be read and checked in full."""
    with database.transaction(read_only=True) as session:
        project = project_of(session, project_id)
        if project.is_archived:
            return None  # the full path says why nothing may be imported
        run = find_run(session, project, clean_name(options.run))
        if run is None or run.last_import_key is None or run.last_import_rows is None:
            return None
        if run.last_import_key != _state_key(session, project, fingerprint):
            return None
        seed = options.seed
        if options.sample_errors is not None and seed is None:
            seed = secrets.randbelow(2**31)  # as `plan_import` draws it (nothing is left to draw)
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
