"""Every CSV and .xlsx export is inert: people's text never becomes a formula, a control
character never breaks a file, and download names carry nothing but a name."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.analysis.inert import FORMULA_STARTS, inert, inert_text
from app.downloads import content_disposition, export_filename
from app.models import AnnotationStatus
from tests.conftest import sign_in
from tests.factories import (
    bearer,
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.routes import url

EVIL = '=HYPERLINK("http://evil.example","click")'


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        (EVIL, "'" + EVIL),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("a=1", "a=1"),
        ("two\nlines", "two\nlines"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("\x00=1", "'=1"),  # cleaned first, so a control character cannot hide an `=`
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("", ""),
    ],
)
def test_the_rule(text: str, cell: str) -> None:
    assert inert_text(text) == cell


def test_numbers_stay_numbers() -> None:
    assert inert(-0.5) == -0.5
    assert inert(None) is None


def _hostile(session: Session) -> tuple[int, dict[str, str]]:
    lead, ann = make_user(session, "lead"), make_user(session, "ann")
    project = make_project(session, lead, annotators=[ann], name="Evil", overlap=1)
    run = make_run(session, project, name="=run\u202egpj.exe")
    cause = make_cause(session, project, "@cause")
    sample = make_sample(session, project, external_id=EVIL, label="+label")
    prediction = make_prediction(
        session, run, sample, label="-predicted", probs={"+label": 0.1, "-predicted": 0.9}
    )
    make_annotation(
        session,
        prediction,
        ann,
        causes=[cause],
        status=AnnotationStatus.DONE,
        note="\t=cmd|' /C calc'!A0 \x01\x02 broke xml",
        label_error=True,
        suggested_label="\r=1+1",
    )
    return project.id, {"run": run.name}


def _csv_cells(body: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(body.decode())) for cell in row]


def _assert_inert_csv(body: bytes) -> None:
    cells = _csv_cells(body)
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert "'" + EVIL in cells
    assert not any("\x01" in c for c in cells)


def _assert_inert_xlsx(body: bytes) -> None:
    book = openpyxl.load_workbook(io.BytesIO(body))
    errors = book["Errors"]
    rows = list(errors.iter_rows())
    strings = [str(c.value) for row in rows for c in row if c.data_type == "s"]
    formulas = [c for row in rows for c in row if c.data_type == "f"]
    # Ours only: the footer under the header and the one row, holding no one's text.
    assert formulas
    assert all((c.row or 0) > 3 and "evil" not in str(c.value) for c in formulas)
    assert "'" + EVIL in strings
    assert "'@cause" in strings
    assert not [s for s in strings if s.startswith(FORMULA_STARTS) or "\x01" in s]
    run_sheet = [c for row in book["Run"].iter_rows() for c in row]
    assert [c.coordinate for c in run_sheet if c.data_type == "f"] == ["B4"]  # the error rate
    assert "'=run\u202egpj.exe" in [c.value for c in run_sheet]


def test_every_web_export_is_inert(client: TestClient, session: Session) -> None:
    project_id, names = _hostile(session)
    sign_in(client, "lead")
    params = {"project_id": project_id, "run": names["run"]}
    for route in ("sheet_csv", "label_corrections", "label_suspects_csv"):
        response = client.get(url(client, route, **params))
        assert response.status_code == 200, route
        cells = _csv_cells(response.content)
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)], route
        assert "'" + EVIL in cells, route
    _assert_inert_csv(client.get(url(client, "sheet_csv", **params)).content)
    response = client.get(url(client, "sheet_xlsx", **params))
    assert response.status_code == 200
    _assert_inert_xlsx(response.content)
    # The run's name in the file name keeps its letters but loses the override.
    assert "\u202e" not in response.headers["content-disposition"]
    assert "%E2%80%AE" not in response.headers["content-disposition"]


def test_every_api_export_is_inert(client: TestClient, session: Session) -> None:
    project_id, names = _hostile(session)
    headers = bearer(session, "lead")
    params = {"project_id": project_id, "run": names["run"]}
    for route in ("api_spreadsheet_csv", "api_annotations_csv"):
        response = client.get(url(client, route, **params), headers=headers)
        assert response.status_code == 200, route
        _assert_inert_csv(response.content)
        assert response.headers["cache-control"] == "no-store"
    response = client.get(
        url(client, "api_annotations_csv", **params), params={"consensus": "true"}, headers=headers
    )
    _assert_inert_csv(response.content)
    response = client.get(url(client, "api_spreadsheet_xlsx", **params), headers=headers)
    assert response.status_code == 200
    _assert_inert_xlsx(response.content)


@pytest.mark.parametrize(
    ("run", "name"),
    [
        ("v2 / no aug", "eyeball-1-v2_no_aug-sheet.csv"),
        ("../../etc/passwd", "eyeball-1-etc_passwd-sheet.csv"),
        ("a\u202egpj.exe", "eyeball-1-agpj.exe-sheet.csv"),
        ("x" * 500, f"eyeball-1-{'x' * 80}-sheet.csv"),
        ("\x00\r\n", "eyeball-1-run-sheet.csv"),
    ],
)
def test_download_names(run: str, name: str) -> None:
    assert export_filename(1, run, "sheet.csv") == name


def test_a_unicode_name_is_given_twice() -> None:
    header = content_disposition("eyeball-1-模型-sheet.csv")
    assert header == (
        'attachment; filename="eyeball-1--sheet.csv"; '
        "filename*=UTF-8''eyeball-1-%E6%A8%A1%E5%9E%8B-sheet.csv"
    )
    assert "\r" not in content_disposition("a\r\nSet-Cookie: x=1")
