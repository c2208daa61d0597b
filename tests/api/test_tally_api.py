"""The tally and the sheet's files for notebooks: the same numbers as the pages."""

from __future__ import annotations

import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token
from tests.factories import make_user
from tests.routes import url
from tests.sheet_data import build


def bearer(session: Session, username: str) -> dict[str, str]:
    from app.domain.accounts.users import get_user_by_username

    user = get_user_by_username(session, username)
    assert user is not None
    return {"Authorization": f"Bearer {create_token(session, user, 'nb').secret}"}


def test_the_tally_as_json(client: TestClient, session: Session) -> None:
    f = build(session)  # a lead's tally: blind review holds nothing back from leads
    path = url(client, "api_tally", project_id=f.project.id, run="latest")
    response = client.get(path, headers=bearer(session, "lead"))
    assert response.status_code == 200
    body = response.json()
    assert (body["run"], body["evaluated"], body["errors"], body["examined"]) == ("v1", 60, 6, 4)
    assert body["error_rate"] == pytest.approx(0.1)
    assert body["ceiling_note"] is None
    blurry = next(c for c in body["causes"] if c["cause"] == "blurry")
    assert blurry["count"] == 2
    assert blurry["share"] == 0.5
    assert blurry["ceiling_points"] == pytest.approx(5.0)
    assert blurry["error_rate_if_fixed"] == pytest.approx(0.05)
    assert blurry["share_low"] < 0.5 < blurry["share_high"]
    assert body["label_errors"]["count"] == 1
    assert "weigh" in body["label_errors"]["advice"]
    assert {a["cause"] for a in body["agreement"]} == {"blurry", "dark", "tiny", None}
    filtered = client.get(
        path, params={"meta": "time=night", "cause": str(f.c.id)}, headers=bearer(session, "lead")
    ).json()
    assert (filtered["rows"], filtered["examined"]) == (2, 2)
    # Notebooks know names, not ids: the same slice by name.
    named = client.get(
        path, params={"meta": "time=night", "cause": "Tiny"}, headers=bearer(session, "lead")
    ).json()
    assert named == filtered
    by_bob = client.get(path, params={"annotator": "bob"}, headers=bearer(session, "lead")).json()
    assert by_bob["rows"] == 3
    unknown = client.get(path, params={"cause": "fuzzy"}, headers=bearer(session, "lead"))
    assert unknown.status_code == 422
    assert unknown.json() == {"detail": "The project has no cause named 'fuzzy'."}


def test_the_api_refuses_strangers_and_bad_filters(client: TestClient, session: Session) -> None:
    f = build(session)
    make_user(session, "stranger")
    path = url(client, "api_tally", project_id=f.project.id, run="latest")
    assert client.get(path, headers=bearer(session, "stranger")).status_code == 404
    bad = client.get(path, params={"status": "nope"}, headers=bearer(session, "ann"))
    assert bad.status_code == 422
    assert "Status must be one of" in bad.json()["detail"]


def test_the_sheet_files_match_the_pages_downloads(client: TestClient, session: Session) -> None:
    f = build(session)
    headers = bearer(session, "lead")
    csv_path = url(client, "api_spreadsheet_csv", project_id=f.project.id, run="v1")
    response = client.get(csv_path, headers=headers)
    assert response.status_code == 200
    assert response.text.splitlines()[0].startswith("external_id,label,prediction")
    assert len(response.text.splitlines()) == 7
    xlsx_path = url(client, "api_spreadsheet_xlsx", project_id=f.project.id, run="v1")
    book = openpyxl.load_workbook(io.BytesIO(client.get(xlsx_path, headers=headers).content))
    assert book.sheetnames == ["Errors", "Run"]
    assert book["Run"]["B1"].value == "v1"
