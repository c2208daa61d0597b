"""Importing an eyeball set: exact numbers, all or nothing, idempotent, reproducible samples."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import schema
from app.config import Settings
from app.db import Database
from app.domain.analysis.sheet import load_run
from app.domain.analysis.views import Filters, tally
from app.domain.imports import manifests, media, pipeline
from app.domain.imports.demo import DEMO_DIR
from app.domain.imports.manifests import FolderMedia, Limits, MediaSource, ZipMedia
from app.domain.imports.pipeline import (
    ImportOptions,
    ImportRefused,
    ImportSummary,
    Upload,
)
from app.domain.imports.plan import choose_for_review
from app.domain.imports.store import LocalMediaStore, MediaStore, archive_key, thumbnail_key
from app.domain.projects.access import get_access
from app.domain.projects.runs import RunFields, create_run, resolve_run
from app.domain.review.annotations import Draft, save
from app.domain.review.status import run_progress
from app.domain.review.visibility import everything
from app.models import AnnotationStatus, MediaBlob, Prediction, Project, Run, Sample, SampleKind
from tests.conftest import PostgresDatabases
from tests.factories import make_cause, make_project, make_run, make_user
from tests.importing import (
    csv_bytes,
    database_of,
    image_rows,
    images_for,
    jsonl_bytes,
    png,
    zip_bytes,
    zip_media,
)
from tests.media_stores import store_of
from tests.oracle import every_row, matches, tally_rows

TABLES = (Sample, Prediction, Run, MediaBlob)


def counts(session: Session) -> dict[str, int]:
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
        for table in TABLES
    }


def run_import(
    session: Session,
    project: Project,
    manifest: bytes,
    media: MediaSource | None,
    media_dir: Path | MediaStore,
    *,
    name: str = "manifest.csv",
    limits: Limits | None = None,
    **options: Any,
) -> ImportSummary:
    options.setdefault("run", "v1")
    try:
        return pipeline.run_import(
            database_of(session),
            project.id,
            Upload(io.BytesIO(manifest), name, media),
            ImportOptions(**options),
            LocalMediaStore(media_dir) if isinstance(media_dir, Path) else media_dir,
            limits=limits or Limits(),
        )
    finally:
        session.expire_all()  # the import wrote through sessions of its own


def refused(
    session: Session,
    project: Project,
    manifest: bytes,
    media: MediaSource | None,
    media_dir: Path,
    **kwargs: Any,
) -> list[tuple[int | None, str | None, str]]:
    """The problems of an import that must be refused, checking that nothing was written."""
    before, files = counts(session), set(media_dir.rglob("*"))
    with pytest.raises(ImportRefused) as caught:
        run_import(session, project, manifest, media, media_dir, **kwargs)
    assert counts(session) == before, "a refused import wrote rows"
    assert set(media_dir.rglob("*")) - files <= {media_dir / ".staging"}, "it stored files"
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def snapshot(session: Session, project: Project) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(Sample, Prediction, Run.name)
        .join(Prediction, Prediction.sample_id == Sample.id)
        .join(Run, Run.id == Prediction.run_id)
        .where(Sample.project_id == project.id)
        .order_by(Sample.external_id, Run.name)
    ).all()
    return [
        (
            s.external_id,
            s.label,
            s.image_sha256,
            s.text,
            s.record,
            s.meta,
            run_name,
            p.label,
            p.confidence,
            p.probs,
            p.is_error,
            p.in_review,
            p.review_order,
        )
        for s, p, run_name in rows
    ]


# --- real data --------------------------------------------------------------------------


def demo_project(session: Session, **overrides: Any) -> Project:
    labels = [str(d) for d in range(10)]
    return make_project(session, labels=labels, queue_seed=7, **overrides)


def test_the_demo_eyeball_split_imports_with_its_error_rate(
    session: Session, tmp_path: Path
) -> None:
    project = demo_project(session)
    manifest = (DEMO_DIR / "manifest.csv").read_bytes()
    summary = run_import(
        session, project, manifest, FolderMedia(DEMO_DIR, Limits()), tmp_path, run="logreg"
    )
    assert (summary.rows, summary.errors, summary.evaluated) == (1000, 114, 1000)
    assert summary.error_rate == pytest.approx(0.114)
    assert summary.samples_created == summary.predictions_created == 1000
    assert summary.queued_for_review == 114

    run = resolve_run(session, project, "logreg")
    progress = run_progress(session, project, run)
    assert (progress.errors, progress.in_review, progress.error_rate) == (114, 114, 0.114)
    orders = session.scalars(
        select(Prediction.review_order).where(Prediction.run_id == run.id, Prediction.in_review)
    ).all()
    assert None not in orders
    assert sorted(o for o in orders if o is not None) == list(range(114))
    sample = session.scalars(select(Sample).where(Sample.external_id == "digit-0460")).one()
    assert sample.meta == {"ink_coverage": 0.5, "heavy_ink": "no"}
    assert (tmp_path / "thumbs").is_dir()


def _demo_as_jsonl() -> bytes:
    with (DEMO_DIR / "manifest.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return jsonl_bytes(
        {
            **row,
            "label": int(row["label"]),  # JSONL writers often keep class numbers as numbers
            "confidence": float(row["confidence"]),
            "probs": json.loads(row["probs"]),
            "ink_coverage": float(row["ink_coverage"]),
        }
        for row in rows
    )


def test_jsonl_and_csv_of_the_same_data_give_the_same_database_content(
    session: Session, tmp_path: Path
) -> None:
    from_csv = demo_project(session)
    from_jsonl = demo_project(session)
    media = FolderMedia(DEMO_DIR, Limits())
    run_import(session, from_csv, (DEMO_DIR / "manifest.csv").read_bytes(), media, tmp_path)
    run_import(session, from_jsonl, _demo_as_jsonl(), media, tmp_path, name="manifest.jsonl")
    csv_rows, jsonl_rows = snapshot(session, from_csv), snapshot(session, from_jsonl)
    assert len(csv_rows) == 1000
    assert csv_rows == jsonl_rows


def test_a_csv_with_a_byte_order_mark_reads_like_one_without(
    session: Session, tmp_path: Path
) -> None:
    rows = image_rows(4, 2)
    with_bom, without = make_project(session, queue_seed=1), make_project(session, queue_seed=1)
    run_import(session, with_bom, csv_bytes(rows, bom=True), zip_media(images_for(rows)), tmp_path)
    run_import(session, without, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert snapshot(session, with_bom) == snapshot(session, without)
    assert snapshot(session, with_bom)[0][5] == {"camera": "back", "size": 0}


# --- all or nothing ---------------------------------------------------------------------


def _bad(rows: list[dict[str, Any]], line: int, **changes: Any) -> list[dict[str, Any]]:
    rows = [dict(r) for r in rows]
    rows[line - 2].update(changes)  # line 1 is the header
    return rows


BASE = image_rows(5, 2)
BAD_ROWS = {
    "missing id": (_bad(BASE, 3, id=""), (3, "id", "the id is missing")),
    "duplicate id": (
        _bad(BASE, 4, id="s000"),
        (4, "id", "the id 's000' is repeated (first on line 2)"),
    ),
    "missing label": (_bad(BASE, 2, label=""), (2, "label", "the label is missing")),
    "unknown image": (
        _bad(BASE, 5, image="images/nope.png"),
        (5, "image", "no file 'images/nope.png' in the images"),
    ),
    "image path outside": (
        _bad(BASE, 5, image="../etc/passwd"),
        (5, "image", "'../etc/passwd' must be a path inside the images folder"),
    ),
    "confidence too high": (
        _bad(BASE, 6, confidence=1.5),
        (6, "confidence", "1.5 is outside 0..1"),
    ),
    "confidence not a number": (
        _bad(BASE, 6, confidence="high"),
        (6, "confidence", "'high' is not a number"),
    ),
    "probs not JSON": (
        _bad(BASE, 2, probs="{cat: 1}"),
        (2, "probs", "not valid JSON (give an object label→probability)"),
    ),
    "probs do not sum to 1": (
        _bad(BASE, 2, probs={"cat": 0.5, "dog": 0.2}),
        (2, "probs", "the probabilities add up to 0.7, not 1"),
    ),
    "probs as a list without labels": (
        _bad(BASE, 2, probs=[0.5, 0.5]),
        (
            2,
            "probs",
            "a list needs the project's labels to be set; give an object label→probability",
        ),
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_each_bad_row_is_refused_with_its_line_column_and_reason(
    session: Session, tmp_path: Path, case: str
) -> None:
    rows, expected = BAD_ROWS[case]
    project = make_project(session)
    for row in rows:
        row.setdefault("probs", "")
    problems = refused(session, project, csv_bytes(rows), zip_media(images_for(BASE)), tmp_path)
    assert problems == [expected]


def test_every_problem_is_listed_not_only_the_first(session: Session, tmp_path: Path) -> None:
    rows = _bad(_bad(BASE, 2, confidence=-1), 4, id="s000")
    project = make_project(session)
    problems = refused(
        session, project, jsonl_bytes(rows), zip_media(images_for(BASE)), tmp_path, name="m.jsonl"
    )
    # JSONL has no header: the first object is line 1.
    assert [(line, column) for line, column, _ in problems] == [(1, "confidence"), (3, "id")]


def test_labels_outside_a_closed_vocabulary_are_refused(session: Session, tmp_path: Path) -> None:
    project = make_project(session, labels=["cat", "dog"])
    rows = _bad(BASE, 3, prediction="cow")
    problems = refused(session, project, csv_bytes(rows), zip_media(images_for(BASE)), tmp_path)
    assert problems == [(3, "prediction", "'cow' is not one of the project's labels (cat, dog)")]


def test_probs_may_be_a_list_in_the_order_of_the_labels(session: Session, tmp_path: Path) -> None:
    project = make_project(session, labels=["cat", "dog"])
    rows = [dict(r, probs=[0.25, 0.75]) for r in BASE]
    run_import(
        session, project, jsonl_bytes(rows), zip_media(images_for(BASE)), tmp_path, name="m.jsonl"
    )
    probs = session.scalars(select(Prediction.probs)).all()
    assert probs == [{"cat": 0.25, "dog": 0.75}] * 5
    # Each prediction's probability of its given label is stored, for ranking suspects.
    stored = session.execute(
        select(Sample.label, Prediction.p_label).join(Sample, Sample.id == Prediction.sample_id)
    ).all()
    assert stored
    assert all(p == {"cat": 0.25, "dog": 0.75}[label] for label, p in stored)
    wrong = [dict(r, probs=[1.0]) for r in BASE[:1]]
    other = make_project(session, labels=["cat", "dog"])
    problems = refused(
        session,
        other,
        jsonl_bytes(wrong),
        zip_media(images_for(BASE)),
        tmp_path / "x",
        name="m.jsonl",
    )
    assert problems == [(1, "probs", "1 probabilities for the project's 2 labels")]


def test_whole_file_problems(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    media = zip_media(images_for(BASE))
    no_prediction = [{k: v for k, v in r.items() if k != "prediction"} for r in BASE]
    assert refused(session, project, csv_bytes(no_prediction), media, tmp_path) == [
        (1, None, "missing columns: prediction")
    ]
    assert refused(session, project, b"id,label\n", media, tmp_path) == [
        (None, None, "the manifest has no rows")
    ]
    assert refused(
        session, project, b"id,label,prediction,image\n\xff\xfe,a,b,c\n", media, tmp_path
    ) == [(None, None, "the manifest is not UTF-8 text")]
    assert refused(session, project, csv_bytes(BASE), None, tmp_path) == [
        (None, "images", "this is an image project: add the images (zip or folder)")
    ]
    assert refused(session, project, csv_bytes(BASE), media, tmp_path, evaluated=3) == [
        (None, "evaluated", "3 evaluated samples, but the run would hold 5")
    ]
    assert refused(session, project, csv_bytes(BASE), media, tmp_path, run=" ") == [
        (None, "run", "Give the run a name.")
    ]


def test_unreadable_and_oversized_images_are_refused(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    files = images_for(BASE)
    files["images/s001.png"] = b"not an image at all"
    files["images/s002.png"] = png(size=(200, 200))
    problems = refused(
        session,
        project,
        csv_bytes(BASE),
        zip_media(files),
        tmp_path,
        limits=Limits(max_image_pixels=10_000),
    )
    assert problems == [
        (3, "image", "'images/s001.png': not a readable image"),
        (4, "image", "'images/s002.png': 200×200 pixels is over the limit of 10,000 pixels"),
    ]


# --- zips -------------------------------------------------------------------------------


def _zip_with(entry: zipfile.ZipInfo, data: bytes = b"x") -> ZipMedia:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in images_for(BASE).items():
            z.writestr(name, content)
        z.writestr(entry, data)
    return ZipMedia(io.BytesIO(out.getvalue()), Limits())


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "images/../../evil.png"])
def test_zip_entries_that_climb_out_are_refused(
    session: Session, tmp_path: Path, name: str
) -> None:
    project = make_project(session)
    problems = refused(
        session, project, csv_bytes(BASE), _zip_with(zipfile.ZipInfo(name)), tmp_path
    )
    assert problems == [(None, "images", f"zip entry {name!r} points outside the archive's folder")]
    assert not (tmp_path.parent / "evil.png").exists()


def test_zip_links_are_refused(session: Session, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("images/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    project = make_project(session)
    problems = refused(session, project, csv_bytes(BASE), _zip_with(link, b"/etc/passwd"), tmp_path)
    assert problems == [
        (None, "images", "zip entry 'images/link.png' is a link; links are not accepted")
    ]


def test_zip_limits_are_checked_before_reading(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    files = images_for(BASE)
    too_many = zip_media(files, Limits(max_entries=4))
    assert refused(session, project, csv_bytes(BASE), too_many, tmp_path) == [
        (None, "images", "the zip holds 5 entries, over the limit of 4")
    ]
    total = sum(len(d) for d in files.values())
    too_big = zip_media(files, Limits(max_bytes=total - 1))
    assert refused(session, project, csv_bytes(BASE), too_big, tmp_path) == [
        (None, "images", f"the zip unpacks to {total:,} bytes, over the limit of {total - 1:,}")
    ]
    not_zip = ZipMedia(io.BytesIO(b"PK nope"), Limits())
    assert refused(session, project, csv_bytes(BASE), not_zip, tmp_path) == [
        (None, "images", "the images file is not a zip archive")
    ]


def test_a_zip_of_the_whole_folder_is_understood(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    files = {f"export/{name}": data for name, data in images_for(BASE).items()}
    summary = run_import(session, project, csv_bytes(BASE), zip_media(files), tmp_path)
    assert summary.samples_created == 5


def test_folder_images_refuse_links_out(session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    for name, data in images_for(BASE).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    (folder / "images" / "s004.png").unlink()
    (folder / "images" / "s004.png").symlink_to(secret)
    project = make_project(session)
    problems = refused(
        session, project, csv_bytes(BASE), FolderMedia(folder, Limits()), tmp_path / "media"
    )
    assert problems == [(6, "image", "no file 'images/s004.png' in the images")]


# --- idempotent, runs, conflicts ---------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    rows = image_rows(6, 3)
    first = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    before, state = counts(session), snapshot(session, project)
    stamp = resolve_run(session, project, "v1").last_import_at
    again = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert counts(session) == before
    assert snapshot(session, project) == state
    assert resolve_run(session, project, "v1").last_import_at == stamp
    assert (first.samples_created, again.samples_created, again.predictions_created) == (6, 0, 0)
    assert again.queued_for_review == first.queued_for_review == 3


def test_a_new_run_on_the_same_samples_adds_only_predictions(
    session: Session, tmp_path: Path
) -> None:
    project = make_project(session)
    rows = image_rows(6, 3)
    run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    before = counts(session)
    better = [dict(r, prediction="cat") if r["id"] != "s000" else r for r in rows]
    summary = run_import(
        session, project, csv_bytes(better), zip_media(images_for(rows)), tmp_path, run="v2"
    )
    after = counts(session)
    assert after["sample"] == before["sample"]
    assert after["media_blob"] == before["media_blob"]
    assert after["prediction"] == before["prediction"] + 6
    assert after["run"] == before["run"] + 1
    assert (summary.samples_created, summary.predictions_created, summary.errors) == (0, 6, 1)
    assert summary.error_rate == pytest.approx(1 / 6)
    # The same sample keeps its place in the project's review order in every run.
    v1_first = session.scalars(
        select(Sample.external_id)
        .join(Prediction, Prediction.sample_id == Sample.id)
        .join(Run, Run.id == Prediction.run_id)
        .where(Run.name == "v1", Prediction.in_review)
        .order_by(Prediction.review_order)
    ).all()
    assert "s000" in v1_first


def test_changed_labels_are_conflicts_not_overwrites(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    rows = image_rows(4, 2)
    run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    relabelled = _bad(rows, 3, label="lynx")
    problems = refused(
        session, project, csv_bytes(relabelled), zip_media(images_for(rows)), tmp_path, run="v2"
    )
    assert problems == [
        (
            3,
            "label",
            "conflict: sample 's001' is stored with label 'cat', this import says 'lynx'; "
            "stored labels are not overwritten",
        )
    ]
    changed = _bad(rows, 2, prediction="cow")
    problems = refused(session, project, csv_bytes(changed), zip_media(images_for(rows)), tmp_path)
    assert problems == [
        (
            2,
            "prediction",
            "conflict: run 'v1' already holds a different prediction for 's000' ('dog'); "
            "import it as a new run",
        )
    ]


def test_new_metadata_updates_existing_samples(session: Session, tmp_path: Path) -> None:
    project = make_project(session)
    rows = image_rows(3, 1)
    run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    tagged = [dict(r, site="lab") for r in rows]
    summary = run_import(
        session, project, csv_bytes(tagged), zip_media(images_for(rows)), tmp_path, run="v2"
    )
    assert summary.samples_updated == 3
    metas = session.scalars(select(Sample.meta).where(Sample.project_id == project.id)).all()
    assert all(m["site"] == "lab" and "camera" in m for m in metas)


# --- error rate and the review sample ---------------------------------------------------


def test_errors_only_the_rate_is_unknown_unless_evaluated_is_given(
    session: Session, tmp_path: Path
) -> None:
    rows = image_rows(4, 4)
    project = make_project(session)
    unknown = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert (unknown.evaluated, unknown.error_rate) == (None, None)
    assert run_progress(session, project, resolve_run(session, project, "v1")).error_rate is None
    other = make_project(session)
    known = run_import(
        session, other, csv_bytes(rows), zip_media(images_for(rows)), tmp_path, evaluated=80
    )
    assert known.error_rate == 0.05
    assert run_progress(session, other, resolve_run(session, other, "v1")).error_rate == 0.05


def _queued(session: Session, project: Project) -> list[str]:
    return list(
        session.scalars(
            select(Sample.external_id)
            .join(Prediction, Prediction.sample_id == Sample.id)
            .where(Sample.project_id == project.id, Prediction.in_review)
            .order_by(Sample.external_id)
        )
    )


def test_a_random_sample_of_errors_is_reproducible_from_its_seed(
    session: Session, tmp_path: Path
) -> None:
    rows = image_rows(40, 30)
    picks = []
    for _ in range(2):
        project = make_project(session)
        summary = run_import(
            session,
            project,
            csv_bytes(rows),
            zip_media(images_for(rows)),
            tmp_path,
            sample_errors=10,
            seed=42,
        )
        assert (summary.queued_for_review, summary.seed) == (10, 42)
        picks.append(_queued(session, project))
    assert picks[0] == picks[1]
    other = make_project(session)
    run_import(
        session,
        other,
        csv_bytes(rows),
        zip_media(images_for(rows)),
        tmp_path,
        sample_errors=10,
        seed=43,
    )
    assert _queued(session, other) != picks[0]
    # The other errors stay stored, outside the review.
    errors = session.scalar(
        select(func.count())
        .select_from(Prediction)
        .where(Prediction.project_id == other.id, Prediction.is_error)
    )
    assert errors == 30


def test_without_a_seed_one_is_drawn_and_reported(session: Session, tmp_path: Path) -> None:
    rows = image_rows(10, 8)
    project = make_project(session)
    summary = run_import(
        session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path, sample_errors=3
    )
    assert summary.seed is not None
    ids = [r["id"] for r in rows[:8]]
    assert _queued(session, project) == sorted(choose_for_review(ids, 3, summary.seed))


def test_the_review_sample_is_uniform() -> None:
    """Chi-square over 4,000 fixed seeds: deterministic, so it cannot flake."""
    ids = [f"e{i:02d}" for i in range(20)]
    tally: Counter[str] = Counter()
    seeds = range(4000)
    for seed in seeds:
        tally.update(choose_for_review(ids, 5, seed))
    expected = len(seeds) * 5 / len(ids)
    chi_square = sum((tally[i] - expected) ** 2 / expected for i in ids)
    # 19 degrees of freedom: 43.8 is the 0.1% critical value.
    assert chi_square < 43.8
    assert choose_for_review(ids, 5, 1) == choose_for_review(list(reversed(ids)), 5, 1)


# --- other kinds of samples -------------------------------------------------------------


def test_text_and_record_projects(session: Session, tmp_path: Path) -> None:
    texts = make_project(session, kind=SampleKind.TEXT)
    rows = [
        {"id": "t1", "label": "spam", "prediction": "ham", "text": "win a prize", "lang": "en"},
        {"id": "t2", "label": "ham", "prediction": "ham", "text": "see you at 5", "lang": "en"},
    ]
    summary = run_import(session, texts, csv_bytes(rows), None, tmp_path)
    assert (summary.errors, summary.error_rate) == (1, 0.5)
    assert session.scalars(select(Sample.text).order_by(Sample.external_id)).all()[:2] == [
        "win a prize",
        "see you at 5",
    ]
    records = make_project(session, kind=SampleKind.RECORD)
    record_rows = [{"id": "r1", "label": "fraud", "prediction": "ok", "record": {"amount": 12.5}}]
    run_import(session, records, jsonl_bytes(record_rows), None, tmp_path, name="r.jsonl")
    stored = session.scalars(select(Sample).where(Sample.project_id == records.id)).one()
    assert stored.record == {"amount": 12.5}
    bad = [{"id": "r2", "label": "fraud", "prediction": "ok", "record": "[1"}]
    assert refused(session, records, jsonl_bytes(bad), None, tmp_path, name="r.jsonl") == [
        (1, "record", "not valid JSON")
    ]


def _review(session: Session, project: Project) -> list[tuple[str, bool, int | None]]:
    return [
        (external_id, in_review, order)
        for external_id, in_review, order in session.execute(
            select(Sample.external_id, Prediction.in_review, Prediction.review_order)
            .join(Prediction, Prediction.sample_id == Sample.id)
            .where(Sample.project_id == project.id)
            .order_by(Sample.external_id)
        )
    ]


@pytest.mark.parametrize("sample_errors", [None, 7])
def test_a_new_run_gets_the_review_sample_and_order_an_empty_run_gets(
    session: Session, tmp_path: Path, sample_errors: int | None
) -> None:
    """A new run's review is chosen before its predictions are written, a run that
    exists is topped up and renumbered after they are: the same errors, in the same
    order, for the same seeds."""
    rows = image_rows(30, 20)
    fresh, existing = make_project(session), make_project(session)
    existing.queue_seed = fresh.queue_seed
    make_run(session, existing, name="v1", evaluated=None)
    summaries = [
        run_import(
            session,
            project,
            csv_bytes(rows),
            zip_media(images_for(rows)),
            tmp_path,
            sample_errors=sample_errors,
            seed=3,
        )
        for project in (fresh, existing)
    ]
    same = [{k: v for k, v in s.as_dict().items() if k != "phases"} for s in summaries]
    assert same[0] == same[1], "the same counts (the phases' times differ)"
    assert _review(session, fresh) == _review(session, existing)
    reviewed = [order for _, in_review, order in _review(session, fresh) if in_review]
    assert None not in reviewed
    assert sorted(o for o in reviewed if o is not None) == list(range(sample_errors or 20))


def test_a_larger_sample_later_adds_stored_errors_to_the_review(
    session: Session, tmp_path: Path
) -> None:
    rows = image_rows(40, 30)
    project = make_project(session)

    def again(**options: Any) -> ImportSummary:
        return run_import(
            session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path, **options
        )

    assert again(sample_errors=10, seed=5).queued_for_review == 10
    first = _queued(session, project)
    before = counts(session)
    assert again(sample_errors=10, seed=5).queued_for_review == 10
    assert _queued(session, project) == first, "the same import again changes nothing"
    assert again(sample_errors=25, seed=6).queued_for_review == 25
    assert set(first) < set(_queued(session, project)), "the first ten stay under review"
    assert counts(session) == before, "only flags change: no new rows"
    assert again(sample_errors=100, seed=6).queued_for_review == 30


def test_more_samples_for_an_existing_run_count_in_its_error_rate(
    session: Session, tmp_path: Path
) -> None:
    """The error rate is the run's: a file adding samples to a run adds to its counts."""
    project = make_project(session)
    rows = image_rows(10, 4)
    run_import(session, project, csv_bytes(rows[:6]), zip_media(images_for(rows)), tmp_path)
    summary = run_import(
        session, project, csv_bytes(rows[6:]), zip_media(images_for(rows)), tmp_path
    )
    assert (summary.rows, summary.errors, summary.evaluated) == (4, 4, 10)
    progress = run_progress(session, project, resolve_run(session, project, "v1"))
    assert (progress.errors, progress.run.evaluated, progress.error_rate) == (4, 10, 0.4)

    errors_only = make_project(session)
    run_import(
        session,
        errors_only,
        csv_bytes(rows[:2]),
        zip_media(images_for(rows)),
        tmp_path,
        evaluated=50,
    )
    # More errors on the old count would raise the rate without more samples evaluated:
    # the import must say what the run is evaluated on now.
    problems = refused(
        session, errors_only, csv_bytes(rows[2:4]), zip_media(images_for(rows)), tmp_path
    )
    assert [(line, column) for line, column, _ in problems] == [(None, "evaluated")]
    assert "evaluated on 50 samples" in problems[0][2]
    more = run_import(
        session,
        errors_only,
        csv_bytes(rows[2:4]),
        zip_media(images_for(rows)),
        tmp_path,
        evaluated=50,
    )
    assert (more.errors, more.evaluated, more.error_rate) == (4, 50, 0.08)
    # The same file again adds nothing, so the count given before stands.
    again = run_import(
        session, errors_only, csv_bytes(rows[2:4]), zip_media(images_for(rows)), tmp_path
    )
    assert (again.predictions_created, again.evaluated, again.error_rate) == (0, 50, 0.08)


def test_many_images_are_checked_in_worker_processes_with_the_same_outcome(
    session: Session, tmp_path: Path
) -> None:
    """From PARALLEL_FROM images on they are prepared in worker processes: the same
    refusals, line by line, and the same blobs and thumbnails as in the process itself."""
    project = make_project(session)
    count = media.PARALLEL_FROM + 6
    rows = image_rows(count, 10)
    images = images_for(rows)
    images[rows[3]["image"]] = b"not an image"
    problems = refused(session, project, csv_bytes(rows), zip_media(images), tmp_path)
    assert problems == [(5, "image", "'images/s003.png': not a readable image")]

    images[rows[3]["image"]] = png(colour=3)
    summary = run_import(session, project, csv_bytes(rows), zip_media(images), tmp_path)
    assert summary.samples_created == count
    blobs = session.scalars(select(MediaBlob.sha256)).all()
    assert len(blobs) == count
    assert all(media.thumbnail_path(tmp_path, sha).exists() for sha in blobs)


def test_the_image_workers_give_way_to_the_servers_requests() -> None:
    """Saves made while an image import runs must not wait for CPU behind its workers:
    the workers run at a lower priority than the server (see WORKER_NICENESS)."""
    server = os.getpriority(os.PRIO_PROCESS, 0)
    pool = media._workers()
    priorities = {pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result() for _ in range(8)}
    assert priorities == {min(19, server + media.WORKER_NICENESS)}


KILLED_SERVER = """
import os, signal, sys
from app.domain.imports import media

if __name__ == "__main__":
    pool = media._workers()
    pids = {pool.submit(os.getpid).result() for _ in range(8)}
    print(" ".join(map(str, sorted(pids))), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # Exited but not yet reaped by init counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def test_the_image_workers_leave_when_their_server_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(KILLED_SERVER)
    ran = subprocess.run(
        [sys.executable, str(script)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == -signal.SIGKILL, ran.stderr
    workers = [int(pid) for pid in ran.stdout.split()]
    assert workers
    deadline = time.monotonic() + 60  # generous: a loaded machine; they go at once
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived their server"


@pytest.fixture
def store(stored_settings: Settings) -> MediaStore:
    """The local media folder, then a bucket on an S3-compatible server."""
    return store_of(stored_settings)


def test_an_import_stores_each_image_once_in_either_store(
    session: Session, store: MediaStore
) -> None:
    project = make_project(session)
    rows = image_rows(4, 2)
    images = images_for(rows)
    # Two rows showing the same picture: one blob, one original, one thumbnail.
    images[rows[3]["image"]] = images[rows[2]["image"]]
    summary = run_import(session, project, csv_bytes(rows), zip_media(images), store)
    assert summary.samples_created == 4
    blobs = session.scalars(select(MediaBlob)).all()
    assert len(blobs) == 3
    for blob in blobs:
        assert store.read(media.blob_original_key(blob)) in images.values()
        assert store.exists(thumbnail_key(blob.sha256))
    # Nothing is left staged once the import is done, nor kept on this disk for a bucket.
    assert not [p for p in pipeline.staging_root(store.folder).rglob("*") if p.is_file()]
    if store.local_root is None:
        assert not (store.folder / "originals").exists()


def test_a_reimport_decodes_no_image_the_store_holds(
    session: Session, store: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = store
    project = make_project(session)
    rows = image_rows(6, 2)
    run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    decoded: list[bytes] = []
    stage = media._staged_or_refused

    def counted(
        data: bytes, max_pixels: int, staging_dir: Path, media_dir: Path | None
    ) -> media.StagedImage | str:
        decoded.append(data)
        return stage(data, max_pixels, staging_dir, media_dir)

    monkeypatch.setattr(media, "_staged_or_refused", counted)
    again = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert (again.samples_created, again.predictions_created, decoded) == (0, 0, [])

    more = image_rows(7, 2)  # one image the store does not hold yet
    summary = run_import(
        session, project, csv_bytes(more), zip_media(images_for(more)), tmp_path, run="v2"
    )
    assert (summary.samples_created, len(decoded)) == (1, 1)


class CountedZip(ZipMedia):
    """A zip that counts the images read from it."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(io.BytesIO(zip_bytes(files)), Limits())
        self.reads: list[str] = []

    def read(self, name: str) -> bytes | None:
        self.reads.append(name)
        return super().read(name)


def test_the_same_archive_again_reads_none_of_its_images(
    session: Session, store: MediaStore
) -> None:
    tmp_path = store
    project = make_project(session)
    rows = image_rows(6, 2)
    first = CountedZip(images_for(rows))
    run_import(session, project, csv_bytes(rows), first, tmp_path)
    assert len(first.reads) == 6
    state = snapshot(session, project)

    again = CountedZip(images_for(rows))
    summary = run_import(session, project, csv_bytes(rows), again, tmp_path, run="v2")
    assert (again.reads, summary.predictions_created) == ([], 6)
    # Another project importing the same archive gets the same images, unread.
    other = make_project(session)
    elsewhere = CountedZip(images_for(rows))
    run_import(session, other, csv_bytes(rows), elsewhere, tmp_path)
    assert elsewhere.reads == []
    shas = {r[2] for r in snapshot(session, other)}
    assert shas == {r[2] for r in state}

    # A different archive holding the same images is read (not decoded) as before.
    repacked = CountedZip({**images_for(rows), "readme.txt": b"hello"})
    run_import(session, project, csv_bytes(rows), repacked, tmp_path, run="v3")
    assert len(repacked.reads) == 6

    # An unreadable record is as good as none.
    broken = CountedZip(images_for(rows))
    digest = broken.digest()
    assert digest is not None
    store.write(archive_key(digest), b"{not json", replace=True)
    run_import(session, project, csv_bytes(rows), broken, tmp_path, run="v4")
    assert len(broken.reads) == 6
    # A manifest naming an image the record lacks reads that one only.
    more = image_rows(7, 2)
    bigger = CountedZip(images_for(more))
    run_import(session, project, csv_bytes(more[:6]), bigger, tmp_path, run="v5")
    later = CountedZip(images_for(more))
    run_import(session, project, csv_bytes(more), later, tmp_path, run="v6")
    assert later.reads == [more[6]["image"]]


def test_an_import_removes_staging_folders_a_dead_server_left(
    session: Session, tmp_path: Path
) -> None:
    staging = pipeline.staging_root(tmp_path)
    left, busy = staging / "left-by-a-kill", staging / "another-import"
    for folder in (left, busy):
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(b"staged")
    old = time.time() - pipeline.STALE_STAGING_SECONDS - 60
    os.utime(left, (old, old))
    rows = image_rows(2, 1)
    run_import(
        session, make_project(session), csv_bytes(rows), zip_media(images_for(rows)), tmp_path
    )
    assert not left.exists()
    assert (busy / "x.png").exists(), "a folder still in use stays"


def test_an_import_plans_again_when_the_project_changed_after_its_check(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write goes on from the check's plan only while nothing changed: an import (or
    a run created) between the check and the write is seen, and nothing is counted twice."""
    lead = make_user(session)
    project = make_project(session, lead)
    rows = image_rows(6, 3)
    place = media.place_staged
    between: list[Any] = []

    def meanwhile(*args: Any) -> None:
        place(*args)
        if between:
            between.pop()()

    monkeypatch.setattr(pipeline, "place_staged", meanwhile)
    # Another import of the first four rows lands while this one of all six is between
    # its check (nothing stored) and its write.
    between.append(
        lambda: run_import(
            session, project, csv_bytes(rows[:4]), zip_media(images_for(rows)), tmp_path
        )
    )
    summary = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert (summary.samples_created, summary.predictions_created) == (2, 2)
    assert (counts(session)["sample"], counts(session)["prediction"]) == (6, 6)
    assert (summary.errors, summary.evaluated) == (3, 6)

    # A lead registers the run a new import names while it is being checked.
    def register() -> None:
        create_run(
            session,
            get_access(session, lead, project.id),
            RunFields.checked(name="v2", evaluated=100),
        )
        session.flush()

    between.append(register)
    v2 = run_import(
        session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path, run="v2"
    )
    assert (v2.predictions_created, v2.evaluated) == (6, 100)
    assert session.scalar(select(func.count()).where(Run.name == "v2")) == 1


def test_an_import_whose_project_changes_after_its_rows_are_staged_plans_again(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the rows are staged before the write: an import landing between the two
    is seen by the write too, which plans again and writes nothing twice (on PostgreSQL,
    where nothing is staged, the same order of events goes through the check's plan)."""
    project = make_project(session)
    rows = image_rows(6, 3)
    stage = pipeline._stage
    between: list[Any] = []

    def staged_then_meanwhile(*args: Any) -> Any:
        staged = stage(*args)
        if between:
            between.pop()()
        return staged

    monkeypatch.setattr(pipeline, "_stage", staged_then_meanwhile)
    monkeypatch.setattr(pipeline, "place_staged", _place_then(between, database_of(session)))
    between.append(
        lambda: run_import(
            session, project, csv_bytes(rows[:4]), zip_media(images_for(rows)), tmp_path
        )
    )
    summary = run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    assert (summary.samples_created, summary.predictions_created) == (2, 2)
    assert (counts(session)["sample"], counts(session)["prediction"]) == (6, 6)
    assert (summary.errors, summary.evaluated) == (3, 6)
    stored = {s.external_id: s.label for s in session.scalars(select(Sample))}
    assert stored == {row["id"]: row["label"] for row in rows}


def _place_then(between: list[Any], database: Database) -> Any:
    """`place_staged`, and on PostgreSQL (no rows staged) the change meant for after the
    staging, at the last moment before the write."""
    place = media.place_staged

    def placed(*args: Any) -> None:
        place(*args)
        if between and not database.is_sqlite:
            between.pop()()

    return placed


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("images/s000.png", "images/s000.png"),
        ("a-b_c/d.e.f.jpg", "a-b_c/d.e.f.jpg"),
        ("./images/x.png", "images/x.png"),
        ("images//x.png", "images/x.png"),
        ("images/./x.png", "images/x.png"),
        ("bilder/straße.png", "bilder/straße.png"),
        ("images/../x.png", None),
        ("..", None),
        ("/etc/passwd", None),
        ("C:/x.png", None),
        ("c:x.png", None),
        ("images\\x.png", None),
        ("x\x00.png", None),
        ("", None),
        (".", None),
    ],
)
def test_image_paths_in_a_manifest_are_canonical_or_refused(
    name: str, canonical: str | None
) -> None:
    assert manifests.safe_relative_path(name) == canonical


def test_an_import_keeps_the_footers_of_one_metadata_value_true_in_every_run(
    session: Session, tmp_path: Path
) -> None:
    """The footer of a sheet filtered by one value reads that value's stored sums: an
    import's new errors count in them, and new metadata on a reviewed error's sample
    moves its verdict to the new value, in every run that has the sample."""
    lead, ann = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann], overlap=1)
    rows = image_rows(4, 2)  # errors s000 (camera back) and s001 (front)
    run_import(session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path)
    blurry = make_cause(session, project, "blurry")
    v1 = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    first = session.scalars(
        select(Prediction).where(Prediction.run_id == v1.id).order_by(Prediction.id)
    ).first()
    assert first is not None
    save(
        session,
        get_access(session, ann, project.id),
        first,
        Draft(frozenset({blurry.id}), status=AnnotationStatus.DONE),
        expected_version=0,
    )
    session.flush()

    def footers() -> dict[str, tuple[int, int, int]]:
        data = load_run(session, project, v1, seen_by=everything())
        every = every_row(session, data)
        shown = {}
        for value in ("back", "front", "side"):
            filters = Filters(meta_key="camera", meta_value=value)
            footer = tally(session, data, filters)
            kept = [r for r in every if matches(filters, r)]
            assert footer == tally_rows(data, every, kept, filtered=True)
            shown[value] = (footer.rows, footer.examined, footer.causes[0].share.count)
        return shown

    assert footers() == {"back": (1, 1, 1), "front": (1, 0, 0), "side": (0, 0, 0)}
    moved = [dict(r, camera="side") for r in rows]
    run_import(session, project, csv_bytes(moved), zip_media(images_for(rows)), tmp_path, run="v2")
    assert footers() == {"back": (0, 0, 0), "front": (0, 0, 0), "side": (2, 1, 1)}


def test_a_large_import_on_postgresql_has_the_planner_count_its_rows_after_the_answer(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    """Left to autovacuum, the planner takes the freshly filled tables for the empty ones
    it last saw, and the next batch's lookups slow down. The import's answer does not
    wait for the count, but the count comes."""
    database = Database.from_url(postgres.create())
    try:
        schema.upgrade(database.engine)
        with database.transaction() as session:
            project_id = make_project(session, kind=SampleKind.TEXT).id
        rows = [
            {
                "id": f"t{i}",
                "label": "spam",
                "prediction": "ham" if i % 10 else "spam",
                "text": f"message {i}",
            }
            for i in range(1_500)
        ]
        summary = pipeline.run_import(
            database,
            project_id,
            Upload(io.BytesIO(csv_bytes(rows)), "manifest.csv", None),
            ImportOptions(run="v1"),
            LocalMediaStore(tmp_path),
        )
        assert summary.predictions_created == 1_500

        def counted() -> float:
            with database.engine.connect() as connection:
                return float(
                    connection.scalar(
                        text("SELECT reltuples FROM pg_class WHERE relname = 'prediction'")
                    )
                    or 0
                )

        for thread in threading.enumerate():
            if thread.name == "import-statistics":
                thread.join(timeout=60)
        assert counted() == 1_500
    finally:
        database.dispose()
