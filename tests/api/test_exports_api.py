"""Annotations as files for notebooks: pandas reads them as they are, and they stream."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.accounts.users import create_token, revoke_token
from app.domain.analysis.annotation_export import PAGE_SIZE
from app.models import Annotation, AnnotationCause, AnnotationStatus, Prediction, Sample, utcnow
from tests.conftest import sign_in
from tests.factories import bearer, make_project, make_user
from tests.routes import url
from tests.sheet_data import Fixture, build

FORMATS = ("csv", "jsonl", "json")


def export_url(client: TestClient, f: Fixture, fmt: str, run: str = "v1") -> str:
    return url(client, f"api_annotations_{fmt}", project_id=f.project.id, run=run)


def parse(fmt: str, content: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]]
    if fmt == "csv":
        rows = pd.read_csv(io.BytesIO(content)).to_dict("records")
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in content.decode().splitlines()]
    else:
        rows = json.loads(content)
    return rows


def test_pandas_reads_the_csv_without_options(client: TestClient, session: Session) -> None:
    f = build(session)
    response = client.get(export_url(client, f, "csv", "latest"), headers=bearer(session, "lead"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        f'filename="eyeball-{f.project.id}-v1-annotations.csv"'
        in response.headers["content-disposition"]
    )
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame.columns) == [
        "sample_id",
        "label",
        "prediction",
        "confidence",
        "annotator",
        "kind",
        "status",
        "label_error",
        "suggested_label",
        "note",
        "version",
        "updated_at",
        "causes",
        "cause:blurry",
        "cause:dark",
        "cause:tiny",
    ]
    assert len(frame) == 10  # one row per (error, annotator), the adjudication included
    for column in ("cause:blurry", "cause:dark", "cause:tiny", "label_error"):
        assert frame[column].dtype == "int64"
        assert set(frame[column]) <= {0, 1}
    assert frame["confidence"].dtype == "float64"
    first = frame.iloc[0]
    assert (first["sample_id"], first["annotator"], first["kind"]) == ("e1", "ann", "review")
    assert (first["cause:blurry"], first["cause:dark"]) == (1, 0)
    assert json.loads(frame.iloc[2]["causes"]) == ["blurry", "dark"]
    # ISO 8601 times, read back as UTC.
    times = pd.to_datetime(frame["updated_at"])
    assert str(times.dt.tz) == "UTC"
    flagged = frame[frame["label_error"] == 1]
    assert list(zip(flagged["sample_id"], flagged["suggested_label"], strict=True)) == [
        ("e4", "fox"),
        ("e5", "fox"),
    ]


def test_consensus_gives_one_row_per_error(client: TestClient, session: Session) -> None:
    f = build(session)
    headers = bearer(session, "lead")
    response = client.get(
        export_url(client, f, "csv"), params={"consensus": "true"}, headers=headers
    )
    assert response.status_code == 200
    assert (
        f'filename="eyeball-{f.project.id}-v1-consensus.csv"'
        in response.headers["content-disposition"]
    )
    frame = pd.read_csv(io.BytesIO(response.content)).set_index("sample_id")
    assert list(frame.index) == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert list(frame["status"]) == ["done", "done", "done", "partial", "adjudicated", "queued"]
    assert list(frame["cause:blurry"]) == [1, 1, 0, 0, 0, 0]
    assert list(frame["cause:tiny"]) == [0, 0, 1, 0, 1, 0]
    assert list(frame["examined"]) == [1, 1, 1, 0, 1, 0]
    assert (frame.loc["e5", "label_error"], frame.loc["e5", "suggested_label"]) == (1, "fox")
    assert frame.loc["e3", "disagreement"] == 1
    # The tally of these rows is the tally endpoint's.
    tally = client.get(
        url(client, "api_tally", project_id=f.project.id, run="v1"),
        headers=headers,
    ).json()
    counts = {c["cause"]: c["count"] for c in tally["causes"]}
    assert counts == {name: frame[f"cause:{name}"].sum() for name in ("blurry", "dark", "tiny")}
    assert tally["examined"] == frame["examined"].sum()


@pytest.mark.parametrize("consensus", [False, True])
def test_the_three_formats_hold_the_same_rows(
    client: TestClient, session: Session, consensus: bool
) -> None:
    f = build(session)
    headers = bearer(session, "lead")
    parsed = {}
    for fmt in FORMATS:
        response = client.get(
            export_url(client, f, fmt), params={"consensus": str(consensus)}, headers=headers
        )
        assert response.status_code == 200
        parsed[fmt] = parse(fmt, response.content)
    assert (
        client.get(export_url(client, f, "jsonl"), headers=headers)
        .headers["content-type"]
        .startswith("application/x-ndjson")
    )
    assert parsed["json"] == parsed["jsonl"]
    assert len(parsed["json"]) == (6 if consensus else 10)
    from_csv = [row["sample_id"] for row in parsed["csv"]]
    assert from_csv == [row["sample_id"] for row in parsed["json"]]
    first = parsed["json"][0]
    assert first["causes"] == ["blurry"]
    assert (first["cause:blurry"], first["cause:tiny"]) == (1, 0)
    assert first["label_error"] is False


def _bulk_run(session: Session, f: Fixture, errors: int) -> None:
    """More errors than one page of the export, each finished by ann, in bulk."""
    session.execute(
        insert(Sample),
        [
            {"project_id": f.project.id, "external_id": f"b{i:05}", "label": "cat", "meta": {}}
            for i in range(errors)
        ],
    )
    samples = session.scalars(
        select(Sample.id).where(Sample.project_id == f.project.id, Sample.external_id.like("b0%"))
    ).all()
    session.execute(
        insert(Prediction),
        [
            {
                "project_id": f.project.id,
                "run_id": f.run.id,
                "sample_id": s,
                "label": "dog",
                "is_error": True,
                "in_review": True,
                "review_order": 10 + n,
            }
            for n, s in enumerate(samples)
        ],
    )
    predictions = session.scalars(
        select(Prediction.id).where(Prediction.sample_id.in_(samples))
    ).all()
    now = utcnow()
    session.execute(
        insert(Annotation),
        [
            {
                "project_id": f.project.id,
                "prediction_id": p,
                "annotator_id": f.ann.id,
                "status": AnnotationStatus.DONE,
                "note": "bulk",
                "created_at": now,
                "updated_at": now,
            }
            for p in predictions
        ],
    )
    annotations = session.scalars(
        select(Annotation.id).where(Annotation.prediction_id.in_(predictions))
    ).all()
    session.execute(
        insert(AnnotationCause), [{"annotation_id": a, "cause_id": f.b.id} for a in annotations]
    )
    verdicts.refresh(session, predictions)  # written past annotations.save, as save would
    verdicts.recount_reviews(session)
    verdicts.recount_errors(session)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_larger_than_a_page_streams_in_several_pieces(
    client: TestClient, session: Session, fmt: str
) -> None:
    f = build(session)
    errors = 2 * PAGE_SIZE + 50
    _bulk_run(session, f, errors)
    headers = bearer(session, "lead")
    with client.stream("GET", export_url(client, f, fmt), headers=headers) as response:
        assert response.status_code == 200
        # No length announced up front: the body is produced while it is sent.
        assert "content-length" not in response.headers
        chunks = list(response.iter_raw())
    # One piece per page of errors (plus the array's brackets for JSON): the rows are
    # never gathered into one body.
    assert len(chunks) >= 3
    assert max(len(c) for c in chunks) < sum(len(c) for c in chunks) / 2
    rows = parse(fmt, b"".join(chunks))
    assert len(rows) == 10 + errors
    assert sum(row["cause:dark"] for row in rows) == 3 + errors  # the fixture marks it 3 times


def test_who_may_download(client: TestClient, session: Session) -> None:
    f = build(session)
    path = export_url(client, f, "csv")
    assert client.get(path).status_code == 401
    issued = create_token(session, f.bob, "old notebook")
    revoke_token(session, f.bob, issued.token.id)
    revoked = client.get(path, headers={"Authorization": f"Bearer {issued.secret}"})
    assert (revoked.status_code, revoked.headers["content-type"]) == (401, "application/json")
    other_lead = make_user(session, "olga")
    make_project(session, other_lead, name="Other")
    stranger = client.get(path, headers=bearer(session, other_lead))
    assert (stranger.status_code, stranger.json()) == (404, {"detail": "No such project."})
    # Leads and admins get everyone's annotations, an annotator their own.
    rows = {
        who: len(pd.read_csv(io.BytesIO(client.get(path, headers=bearer(session, who)).content)))
        for who in ("lead", "ann", make_user(session, "root", admin=True))
    }
    assert list(rows.values()) == [10, 5, 10]
    missing = client.get(export_url(client, f, "json", "v7"), headers=bearer(session, "ann"))
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "The project has no run named 'v7'."},
    )
    bad = client.get(path, params={"consensus": "perhaps"}, headers=bearer(session, "ann"))
    assert bad.status_code == 422
    nul = f"/api/v1/projects/{f.project.id}/runs/v%001/annotations.csv"
    assert client.get(nul, headers=bearer(session, "ann")).status_code == 422
    # A signed-in browser downloads with its session cookie.
    sign_in(client, "ann")
    assert len(pd.read_csv(io.BytesIO(client.get(path).content))) == 5
