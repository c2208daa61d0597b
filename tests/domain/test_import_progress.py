"""An import's progress, reported from one place: what the page, the CLI and the API read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.domain.imports import pipeline
from app.domain.imports.manifests import Limits
from app.domain.imports.pipeline import ImportOptions, Upload
from app.domain.imports.progress import ImportProgress, Phase, phase_label, timings
from app.domain.imports.store import LocalMediaStore
from app.i18n import speaking
from app.models import SampleKind
from tests.factories import make_project
from tests.importing import csv_bytes, database_of, image_rows, images_for, zip_media


def text_rows(count: int) -> list[dict[str, object]]:
    return [
        {"id": f"t{i}", "label": "spam", "prediction": "ham" if i % 10 else "spam", "text": "hi"}
        for i in range(count)
    ]


def test_a_text_import_reports_its_rows_as_it_reads_them_then_saves(
    session: Session, tmp_path: Path
) -> None:
    project = make_project(session, kind=SampleKind.TEXT)
    heard: list[tuple[Phase, int, int]] = []
    progress = ImportProgress(on_change=lambda p: heard.append((p.phase, p.done, p.total)))
    summary = pipeline.run_import(
        database_of(session),
        project.id,
        Upload(io.BytesIO(csv_bytes(text_rows(2_500))), "m.csv", None),
        ImportOptions(run="v1"),
        LocalMediaStore(tmp_path),
        progress=progress,
    )
    # While reading, the count of rows so far (the total is not known until the end).
    assert [h for h in heard if h[0] is Phase.READING] == [
        (Phase.READING, 1_000, 0),
        (Phase.READING, 2_000, 0),
        (Phase.READING, 2_500, 2_500),
    ]
    saving = [h for h in heard if h[0] is Phase.SAVING]
    assert saving[0] == (Phase.SAVING, 0, 2_500)
    assert saving[-1] == (Phase.SAVING, 2_500, 2_500)
    assert [h[0] for h in heard][-1] is Phase.DONE
    assert [h[0] for h in heard] == sorted((h[0] for h in heard), key=list(Phase).index), (
        "phases come in order, none twice"
    )
    # The summary's phases are that same record, each timed.
    assert summary.phases == progress.phases()
    assert [(p["phase"], p["items"]) for p in summary.phases] == [
        ("reading", 2_500),
        ("saving", 2_500),
    ]
    assert all(p["seconds"] >= 0 for p in summary.phases)


def test_an_image_import_reports_its_images_between_reading_and_saving(
    session: Session, tmp_path: Path
) -> None:
    project = make_project(session)
    rows = image_rows(120, 30)
    heard: list[tuple[Phase, int, int]] = []
    summary = pipeline.run_import(
        database_of(session),
        project.id,
        Upload(io.BytesIO(csv_bytes(rows)), "m.csv", zip_media(images_for(rows))),
        ImportOptions(run="v1"),
        LocalMediaStore(tmp_path),
        limits=Limits(),
        progress=ImportProgress(on_change=lambda p: heard.append((p.phase, p.done, p.total))),
    )
    images = [(done, total) for phase, done, total in heard if phase is Phase.CHECKING_IMAGES]
    assert images[-1] == (120, 120)
    assert [done for done, _total in images] == sorted(done for done, _total in images)
    assert [(p["phase"], p["items"]) for p in summary.phases] == [
        ("reading", 120),
        ("checking_images", 120),
        ("saving", 120),
    ]


def test_a_refused_import_stops_its_progress_at_the_check(session: Session, tmp_path: Path) -> None:
    project = make_project(session, kind=SampleKind.TEXT)
    rows = text_rows(5)
    rows[2]["label"] = ""
    progress = ImportProgress()
    with pytest.raises(pipeline.ImportRefused):
        pipeline.run_import(
            database_of(session),
            project.id,
            Upload(io.BytesIO(csv_bytes(rows)), "m.csv", None),
            ImportOptions(run="v1"),
            LocalMediaStore(tmp_path),
            progress=progress,
        )
    assert progress.phase is Phase.READING, "nothing was saved"


def test_the_phases_read_the_same_in_every_language_they_are_shown_in() -> None:
    phases = [
        {"phase": "reading", "items": 10, "seconds": 0.25},
        {"phase": "saving", "items": 10, "seconds": 1.5},
    ]
    assert timings(phases) == "Took 1.8 s: Reading the manifest 0.25 s, Saving 1.5 s."
    assert timings([]) == ""
    with speaking("zh_CN"):
        assert phase_label("checking_images") == "正在检查图片"
    # A status file of an older version named its phase in English words.
    assert phase_label("Checking images") == "Checking images"
