"""The upload last applied to a run, sent again while nothing changed, is answered at once
(`unchanged.unchanged_summary`) with the summary the full import gives, and writes nothing;
anything that happened to the project since makes the import run in full."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.imports import manifests, pipeline
from app.domain.imports.manifests import FolderMedia, Limits
from app.domain.imports.pipeline import ImportSummary
from app.domain.projects.access import ProjectArchived, get_access
from app.domain.projects.runs import RunFields, create_run, get_run, update_run
from app.domain.projects.settings import archive_project
from app.models import AnnotationStatus, Prediction, Project, Run, SampleKind, User
from tests.domain.test_imports import run_import, snapshot
from tests.factories import make_annotation, make_project, make_user
from tests.importing import csv_bytes, image_rows, images_for, zip_media

ROWS = image_rows(8, 3)


class Reads:
    """Counts the manifests the pipeline reads: an import answered at once reads none."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        read = manifests.read_manifest

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return read(*args, **kwargs)

        monkeypatch.setattr(pipeline, "read_manifest", counted)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def outcome(summary: ImportSummary) -> ImportSummary:
    """The summary without its phases: those say how the answer was found, and how long
    it took, not what the import did."""
    return dataclasses.replace(summary, phases=[])


def again(session: Session, project: Project, tmp_path: Path, **options: Any) -> ImportSummary:
    return outcome(
        run_import(
            session, project, csv_bytes(ROWS), zip_media(images_for(ROWS)), tmp_path, **options
        )
    )


def in_full(
    session: Session, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **o: Any
) -> ImportSummary:
    """The same import read and checked in full, the shortcut set aside."""
    with monkeypatch.context() as m:
        m.setattr(pipeline, "unchanged_summary", lambda *_args: None)
        return again(session, project, tmp_path, **o)


def data_version(session: Session, project: Project) -> int:
    return session.scalar(select(Project.data_version).where(Project.id == project.id)) or 0


@pytest.mark.parametrize(
    "options",
    [{}, {"sample_errors": 2, "seed": 7}, {"evaluated": 40}],
    ids=["all reviewed", "a review sample", "evaluated given"],
)
def test_the_same_upload_again_is_answered_at_once_with_the_full_imports_summary(
    session: Session,
    tmp_path: Path,
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
) -> None:
    project = make_project(session)
    first = again(session, project, tmp_path, **options)
    assert (first.samples_created, reads.count) == (8, 1)
    full = in_full(session, project, tmp_path, monkeypatch, **options)
    assert reads.count == 2
    state, version = snapshot(session, project), data_version(session, project)

    quick = again(session, project, tmp_path, **options)
    assert reads.count == 2, "nothing was read"
    assert quick == full
    assert (quick.samples_created, quick.predictions_created, quick.rows) == (0, 0, 8)
    assert (snapshot(session, project), data_version(session, project)) == (state, version)
    # And again: writing nothing, it leaves the key as it found it.
    assert again(session, project, tmp_path, **options) == full
    assert reads.count == 2


def test_a_review_sample_without_a_seed_draws_one_as_the_full_import_does(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    project = make_project(session)
    first = again(session, project, tmp_path, sample_errors=2)
    quick = again(session, project, tmp_path, sample_errors=2)
    assert reads.count == 1
    assert (first.queued_for_review, quick.queued_for_review) == (2, 2)
    assert quick.seed is not None


def _edit_the_run(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    access = get_access(session, lead, project.id)
    run = get_run(session, access, session.scalars(select(Run.id)).one())
    update_run(session, access, run.id, RunFields.checked(name="v1", evaluated=100))
    session.flush()


def _create_a_run(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    create_run(session, get_access(session, lead, project.id), RunFields.checked(name="v9"))
    session.flush()


def _annotate(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    error = session.scalars(select(Prediction).where(Prediction.is_error)).first()
    assert error is not None
    make_annotation(session, error, lead)


def _finish_an_annotation(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    error = session.scalars(select(Prediction).where(Prediction.is_error)).first()
    assert error is not None
    annotation = make_annotation(session, error, lead)
    # The key the next import compares with is taken with this annotation in progress.
    again(session, project, tmp_path)
    annotation.status = AnnotationStatus.DONE  # a second save of the same annotation
    session.flush()


def _import_into_another_run(
    session: Session, project: Project, lead: User, tmp_path: Path
) -> None:
    again(session, project, tmp_path, run="v2")


def _import_other_rows(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    more = image_rows(3, 1, prefix="t")
    run_import(session, project, csv_bytes(more), zip_media(images_for(more)), tmp_path)


def _add_a_label(session: Session, project: Project, lead: User, tmp_path: Path) -> None:
    project.labels = [*project.labels, "bird"]
    session.flush()


Change = Callable[[Session, Project, User, Path], None]


@pytest.mark.parametrize(
    "change",
    [
        _edit_the_run,
        _create_a_run,
        _annotate,
        _finish_an_annotation,
        _import_into_another_run,
        _import_other_rows,
        _add_a_label,
    ],
)
def test_after_any_change_to_the_project_the_same_upload_is_read_in_full(
    session: Session,
    tmp_path: Path,
    reads: Reads,
    monkeypatch: pytest.MonkeyPatch,
    change: Change,
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, labels=["cat", "dog"])
    again(session, project, tmp_path)
    change(session, project, lead, tmp_path)
    session.expire_all()
    before = reads.count
    summary = again(session, project, tmp_path)
    assert reads.count == before + 1, "read and checked again"
    assert summary == in_full(session, project, tmp_path, monkeypatch)
    # That import was applied and remembered: the next one is answered at once.
    count = reads.count
    assert again(session, project, tmp_path) == summary
    assert reads.count == count


def test_a_different_upload_or_other_options_are_read_in_full(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    project = make_project(session)
    again(session, project, tmp_path)
    changed = [{**row, "camera": "side"} if row["id"] == "s000" else row for row in ROWS]
    updated = run_import(
        session, project, csv_bytes(changed), zip_media(images_for(ROWS)), tmp_path
    )
    assert (updated.samples_updated, reads.count) == (1, 2)
    other_images = {**images_for(ROWS), "readme.txt": b"hello"}
    run_import(session, project, csv_bytes(changed), zip_media(other_images), tmp_path)
    assert reads.count == 3
    run_import(session, project, csv_bytes(changed), zip_media(other_images), tmp_path, seed=3)
    assert reads.count == 4
    limits = Limits(max_rows=100)
    run_import(
        session, project, csv_bytes(changed), zip_media(other_images), tmp_path, limits=limits
    )
    assert reads.count == 5


def test_a_refused_import_is_never_taken_for_one_applied(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    project = make_project(session)
    bad = [{**row, "confidence": 7} if row["id"] == "s001" else row for row in ROWS]
    for _ in range(2):
        with pytest.raises(pipeline.ImportRefused):
            run_import(session, project, csv_bytes(bad), zip_media(images_for(ROWS)), tmp_path)
    assert reads.count == 2


def test_images_from_a_folder_are_always_read(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    folder = tmp_path / "upload"
    for path, data in images_for(ROWS).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    project = make_project(session)
    media_dir = tmp_path / "media"
    for _ in range(2):
        run_import(session, project, csv_bytes(ROWS), FolderMedia(folder, Limits()), media_dir)
    assert reads.count == 2


def test_a_text_upload_again_is_answered_at_once(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    project = make_project(session, kind=SampleKind.TEXT)
    rows = [
        {"id": f"t{i}", "label": "cat", "prediction": "dog" if i < 2 else "cat", "text": "hi"}
        for i in range(5)
    ]
    first = run_import(session, project, csv_bytes(rows), None, tmp_path)
    state = snapshot(session, project)
    quick = run_import(session, project, csv_bytes(rows), None, tmp_path)
    assert (first.errors, quick.errors, quick.rows, quick.predictions_created) == (2, 2, 5, 0)
    assert (snapshot(session, project), reads.count) == (state, 1)


def test_an_archived_project_refuses_the_same_upload_as_any_other(
    session: Session, tmp_path: Path, reads: Reads
) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    again(session, project, tmp_path)
    archive_project(session, get_access(session, lead, project.id))
    session.flush()
    with pytest.raises(ProjectArchived):
        again(session, project, tmp_path)
    assert reads.count == 2
