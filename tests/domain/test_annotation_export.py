"""The annotation export: the sheet's verdicts, every annotation once, page by page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterator
from contextlib import contextmanager

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import verdicts
from app.domain.analysis.annotation_export import (
    ANNOTATION_FIELDS,
    CONSENSUS_FIELDS,
    ExportRequest,
    ExportRow,
    pages,
    request_export,
    stream,
)
from app.domain.analysis.sheet import load_run
from app.domain.projects.access import get_access
from app.domain.review.visibility import everything
from app.models import Annotation, AnnotationCause, AnnotationStatus, Prediction, Sample, utcnow
from tests.factories import make_annotation, make_cause, make_prediction, make_run, make_sample
from tests.oracle import every_row
from tests.sheet_data import Fixture, build


def export_of(session: Session, f: Fixture, *, consensus: bool = False) -> ExportRequest:
    return request_export(
        session, get_access(session, f.lead, f.project.id), "v1", consensus=consensus
    )


def all_rows(database: Database, request: ExportRequest, page_size: int = 2) -> list[ExportRow]:
    # Each page through a session of its own, as the endpoint reads them.
    _, rows = pages(database.reader, request, page_size=page_size)
    return [row for page in rows for row in page]


def test_consensus_rows_are_the_sheets_rows(session: Session, database: Database) -> None:
    f = build(session)
    header, rows = pages(database.reader, export_of(session, f, consensus=True), page_size=4)
    assert header == [*CONSENSUS_FIELDS, "cause:blurry", "cause:dark", "cause:tiny"]
    exported = {row["sample_id"]: row for page in rows for row in page}
    names = {f.a.id: "blurry", f.b.id: "dark", f.c.id: "tiny"}
    sheet = every_row(session, load_run(session, f.project, f.run, seen_by=everything()))
    assert list(exported) == [r.external_id for r in sheet]
    for row in sheet:
        out = exported[row.external_id]
        assert out["status"] == row.status.value
        assert out["examined"] == row.examined
        assert out["disagreement"] == row.disagreement
        assert out["label_error"] == row.label_error
        assert out["suggested_label"] == row.suggested_label
        assert out["note"] == row.note
        assert set(out["causes"]) == {names[c] for c in row.causes}
        for cause_id, name in names.items():
            assert out[f"cause:{name}"] == int(cause_id in row.causes)
    assert exported["e5"]["annotators"] == ["ann", "bob"]
    assert (exported["e5"]["causes"], exported["e5"]["suggested_label"]) == (["tiny"], "fox")


def test_one_row_per_annotation_adjudications_and_drafts_included(
    session: Session, database: Database
) -> None:
    f = build(session)
    rows = all_rows(database, export_of(session, f), page_size=1)
    assert [(r["sample_id"], r["annotator"], r["kind"]) for r in rows] == [
        ("e1", "ann", "review"),
        ("e1", "bob", "review"),
        ("e2", "ann", "review"),
        ("e2", "bob", "review"),
        ("e3", "ann", "review"),
        ("e3", "lead", "review"),
        ("e4", "ann", "review"),
        ("e5", "ann", "review"),
        ("e5", "bob", "review"),
        ("e5", "lead", "adjudication"),
    ]
    e2 = rows[2]
    assert set(e2) == {*ANNOTATION_FIELDS, "cause:blurry", "cause:dark", "cause:tiny"}
    assert (e2["causes"], e2["cause:blurry"], e2["cause:dark"], e2["cause:tiny"]) == (
        ["blurry", "dark"],
        1,
        1,
        0,
    )
    assert (e2["label"], e2["prediction"], e2["confidence"], e2["version"]) == (
        "cat",
        "dog",
        0.2,
        1,
    )
    assert e2["updated_at"].endswith("Z")
    assert (rows[6]["label_error"], rows[6]["suggested_label"]) == (True, "fox")


def test_pages_walk_ties_and_unplaced_errors_exactly_once(
    session: Session, database: Database
) -> None:
    f = build(session)
    # Two errors sharing a review position, and two without one (listed last).
    for external_id, position in (("t1", 3), ("t2", 3), ("u1", None), ("u2", None)):
        sample = make_sample(session, f.project, external_id=external_id, label="cat")
        prediction = make_prediction(session, f.run, sample, label="fox", review_order=position)
        make_annotation(session, prediction, f.ann, status=AnnotationStatus.DONE)
    for page_size in (1, 2, 3, 500):
        rows = all_rows(database, export_of(session, f, consensus=True), page_size=page_size)
        ids = [r["sample_id"] for r in rows]
        assert sorted(ids) == sorted(["e1", "e2", "e3", "e4", "e5", "e6", "t1", "t2", "u1", "u2"])
        assert ids[-2:] == ["u1", "u2"]
        assert ids.index("e3") < ids.index("t1") < ids.index("t2") < ids.index("e4")


def test_archived_causes_are_columns_only_while_the_run_uses_them(
    session: Session, database: Database
) -> None:
    f = build(session)
    make_cause(session, f.project, "retired", archived_at=utcnow())
    f.b.archived_at = utcnow()  # archived, but ann and bob marked it in this run
    session.flush()
    header, _ = pages(database.reader, export_of(session, f))
    assert [h for h in header if h.startswith("cause:")] == [
        "cause:blurry",
        "cause:dark",
        "cause:tiny",
    ]


def test_the_stream_comes_in_pieces_and_each_format_parses(
    session: Session, database: Database
) -> None:
    f = build(session)
    request = export_of(session, f)
    for fmt in ("csv", "jsonl", "json"):
        # Its own session, as the endpoint does once the request's session is closed.
        chunks = list(stream(database.reader, request, fmt, page_size=2))
        assert len(chunks) >= 3, fmt  # 6 errors, 2 per page, each page sent on its own
        text = b"".join(chunks).decode()
        if fmt == "csv":
            parsed = list(csv.DictReader(io.StringIO(text)))
            assert parsed[0]["causes"] == '["blurry"]'
        elif fmt == "jsonl":
            parsed = [json.loads(line) for line in text.splitlines()]
        else:
            parsed = json.loads(text)
        assert len(parsed) == 10


def test_an_empty_run_still_gives_valid_files(session: Session, database: Database) -> None:
    f = build(session)
    make_run(session, f.project, name="v2")
    request = request_export(session, get_access(session, f.ann, f.project.id), "latest")
    csv_text = b"".join(stream(database.reader, request, "csv")).decode()
    assert (
        csv_text
        == ",".join([*ANNOTATION_FIELDS, "cause:blurry", "cause:dark", "cause:tiny"]) + "\n"
    )
    assert json.loads(b"".join(stream(database.reader, request, "json"))) == []
    assert b"".join(stream(database.reader, request, "jsonl")) == b""


def test_a_run_of_bulk_rows_keeps_every_annotation(session: Session, database: Database) -> None:
    f = build(session)
    project_id = f.project.id
    session.execute(
        insert(Sample),
        [
            {"project_id": project_id, "external_id": f"bulk{i}", "label": "cat", "meta": {}}
            for i in range(30)
        ],
    )
    samples = session.execute(
        select(Sample.id).where(Sample.project_id == project_id, Sample.external_id.like("bulk%"))
    ).all()
    session.execute(
        insert(Prediction),
        [
            {
                "project_id": project_id,
                "run_id": f.run.id,
                "sample_id": s.id,
                "label": "dog",
                "is_error": True,
                "in_review": True,
                "review_order": 100 + n,
            }
            for n, s in enumerate(samples)
        ],
    )
    ids = list(
        session.scalars(
            select(Prediction.id).where(Prediction.sample_id.in_([s.id for s in samples]))
        )
    )
    now = utcnow()
    session.execute(
        insert(Annotation),
        [
            {
                "project_id": project_id,
                "prediction_id": p,
                "annotator_id": person.id,
                "status": AnnotationStatus.DONE,
                "created_at": now,
                "updated_at": now,
            }
            for p in ids
            for person in (f.ann, f.bob)
        ],
    )
    marked = session.scalars(select(Annotation.id).where(Annotation.prediction_id.in_(ids)))
    session.execute(
        insert(AnnotationCause), [{"annotation_id": a, "cause_id": f.c.id} for a in marked]
    )
    verdicts.refresh(session, ids)  # written past annotations.save, as save would
    verdicts.recount_reviews(session)
    verdicts.recount_errors(session)
    rows = all_rows(database, export_of(session, f), page_size=7)
    assert len(rows) == 10 + 60
    # The 60 new marks, and the lead's two in the fixture (a review and an adjudication).
    assert sum(r["cause:tiny"] for r in rows) == 60 + 2
    consensus = all_rows(database, export_of(session, f, consensus=True), page_size=7)
    assert len(consensus) == 36
    assert all(r["causes"] == ["tiny"] for r in consensus if r["sample_id"].startswith("bulk"))


def test_no_transaction_stays_open_while_the_client_reads(
    session: Session, database: Database
) -> None:
    f = build(session)
    open_now: list[Session] = []

    @contextmanager
    def tracked() -> Iterator[Session]:
        with database.reader() as reader:
            open_now.append(reader)
            try:
                yield reader
            finally:
                open_now.remove(reader)

    chunks = stream(tracked, export_of(session, f), "csv", page_size=2)
    assert isinstance(chunks, Generator)  # so it can be closed before the last page
    first = next(chunks)  # the client holds a page and reads slowly, or leaves
    assert first.startswith(b"sample_id,")
    assert open_now == []
    chunks.close()
    assert open_now == []
