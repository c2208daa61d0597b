"""The sheet, the dashboard and their downloads, through HTTP (see tests/sheet_data.py)."""

from __future__ import annotations

import csv
import io
import math
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.sheet import load_run
from app.domain.analysis.tally import wilson
from app.domain.analysis.views import Filters, tally
from app.domain.review.visibility import everything
from app.models import Annotation, AnnotationEvent, AnnotationKind
from tests.conftest import csrf_token, sign_in
from tests.factories import make_user
from tests.oracle import every_row
from tests.pages import attr, one, soup
from tests.routes import url
from tests.sheet_data import Fixture, build


def sheet_url(client: TestClient, f: Fixture, name: str = "sheet") -> str:
    return url(client, name, project_id=f.project.id, run="latest")


def test_every_member_sees_one_row_per_error_and_the_footer(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    # Without blind review every member sees the same sheet (with it: test_visibility).
    f.project.blind_review = False
    session.flush()
    sign_in(client, "bob")
    response = client.get(sheet_url(client, f))
    assert response.status_code == 200
    doc = soup(response.text)
    rows = doc.select("#sheet tbody tr")
    assert [one(r, "th.row-head a").get_text(strip=True) for r in rows] == [
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
        "e6",
    ]
    e5 = doc.select_one(f"#error-{f.errors['e5'].id}")
    assert e5 is not None
    assert one(e5, ".label-error").get_text(" ", strip=True) == "✓ → fox"
    assert attr(e5, "data-href").endswith("/runs/v1/errors/e5")
    counts = doc.select(".count-row td.num")
    assert [c.get_text(strip=True) for c in counts] == ["2", "0", "2", "1"]
    share = one(doc, f'.share-row td[data-cause="{f.a.id}"]').get_text(" ", strip=True)
    assert share == "50% (15%–85%)"
    ceiling = one(doc, f'.ceiling-row td[data-cause="{f.a.id}"]').get_text(" ", strip=True)
    assert ceiling.startswith("≤ 5.00 pts")
    assert ceiling.endswith("→ 5.00%")
    notes = one(doc, "#sheet-notes").get_text(" ", strip=True)
    assert "more than 100%" in notes
    # Live: each save in the run asks for its row and the footer (see the live tests).
    live = one(doc, "[sse-connect]")
    # Saves in other runs do not reload this sheet.
    events = url(client, "project_events", project_id=f.project.id)
    assert live["sse-connect"] == f"{events}?run={f.run.id}"
    assert one(live, ".sheet-live")["sse-swap"] == "annotation"
    assert attr(one(live, "#sheet-table"), "data-live-url").startswith(
        url(client, "sheet_live", project_id=f.project.id, run=f.run.name) + "?"
    )
    # The agreement row appears because the project asks for two annotators per error.
    assert doc.select(".agreement-row")


def test_the_sheet_fragment_is_only_the_table_with_the_filtered_footer(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "ann")
    response = client.get(
        sheet_url(client, f) + "?meta=time%3Dnight&sort=-id", headers={"HX-Request": "true"}
    )
    doc = soup(response.text)
    assert doc.select_one("html") is None
    table = doc.select_one("#sheet-table")
    assert table is not None
    assert "meta=time%3Dnight" in table["data-live-url"]
    assert [r["id"] for r in doc.select("#sheet tbody tr")] == [
        f"error-{f.errors[k].id}" for k in ("e5", "e3", "e1")
    ]
    assert [c.get_text(strip=True) for c in doc.select(".count-row td.num")] == ["1", "0", "2", "1"]
    assert one(doc, 'input[name="sort"]')["value"] == "-id"


def test_no_error_rate_means_the_ceiling_is_a_share_and_the_sheet_says_why(
    client: TestClient, session: Session
) -> None:
    f = build(session, evaluated=None)
    sign_in(client, "lead")
    doc = soup(client.get(sheet_url(client, f)).text)
    assert "evaluated samples was not given" in one(doc, "#sheet-notes").get_text()
    cell = one(doc, f'.ceiling-row td[data-cause="{f.a.id}"]').get_text(" ", strip=True)
    assert cell == "≤ 50% of errors"


def test_bad_query_parameters_get_a_message_not_a_crash(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    response = client.get(sheet_url(client, f) + "?sort=colour")
    assert response.status_code == 422
    assert "cannot be sorted" in response.text
    assert client.get(url(client, "sheet", project_id=f.project.id, run="v9")).status_code == 404


def test_a_filter_typo_keeps_the_table_and_says_what_is_wrong(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    every = soup(client.get(sheet_url(client, f)).text).select("#sheet tbody tr")
    for headers in ({"HX-Request": "true"}, {}):
        response = client.get(sheet_url(client, f) + "?meta=time&label=cat", headers=headers)
        assert response.status_code == 422
        doc = soup(response.text)
        # The table is there, filtered by what parsed (the label), not by the typo.
        table = one(doc, "#sheet-table")
        assert "Filter metadata as key=value" in one(table, "#filter-problems").get_text()
        assert len(table.select("#sheet tbody tr")) == len(every)
        assert "meta=" not in table["data-live-url"]
    field = one(doc, 'input[name="meta"]')
    assert (field["value"], field["aria-invalid"]) == ("time", "true")


def test_the_metadata_filter_offers_the_runs_keys_and_values(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    doc = soup(client.get(sheet_url(client, f)).text)
    field = one(doc, 'input[name="meta"]')
    options = one(doc, f"datalist#{field['list']}").select("option")
    night = len(
        soup(client.get(sheet_url(client, f) + "?meta=time%3Dnight").text).select("#sheet tbody tr")
    )
    offered = {o["value"]: o.get_text(strip=True) for o in options}
    assert offered["time=night"] == f"{night} errors"
    assert set(offered) == {"time=night", "time=day"}


@pytest.mark.parametrize("name", ["sheet", "sheet_csv", "sheet_xlsx", "tally_summary"])
def test_non_members_are_told_nothing_exists(
    client: TestClient, session: Session, name: str
) -> None:
    f = build(session)
    make_user(session, "stranger")
    sign_in(client, "stranger")
    assert client.get(sheet_url(client, f, name)).status_code == 404


def test_the_dashboard_and_adjudication_are_for_leads(client: TestClient, session: Session) -> None:
    f = build(session)
    sign_in(client, "ann")
    assert client.get(sheet_url(client, f, "dashboard")).status_code == 403
    adjudication = url(
        client, "adjudication", project_id=f.project.id, run="v1", prediction_id=f.errors["e2"].id
    )
    assert client.get(adjudication).status_code == 403


def test_the_dashboard_shows_bars_label_errors_progress_and_agreement(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    doc = soup(client.get(sheet_url(client, f, "dashboard")).text)
    bars = doc.select("#cause-bars .bar-row")
    # Sorted largest first; ties by name.
    assert [b["data-cause"] for b in bars] == [str(f.a.id), str(f.c.id), str(f.b.id)]
    # The scale runs to the highest interval end: 2 of 4's upper Wilson bound.
    width = float(attr(one(bars[0], "rect.bar"), "width"))
    assert width == pytest.approx(0.5 / wilson(2, 4).high * 300, abs=0.1)
    assert len(bars[0].select("line.whisker")) == 3
    panel = one(doc, "#label-errors")
    assert "1 of 4 examined errors" in panel.get_text(" ", strip=True)
    # 1 of 4 is 25%: between the method's two thresholds.
    assert "weigh the cost" in one(doc, "#label-error-advice").get_text()
    assert "look better than they are" in panel.get_text()
    assert one(doc, "#errors-needed strong").get_text() == "377"
    names = [one(r, "th").get_text(strip=True) for r in doc.select("#annotator-tallies tbody tr")]
    assert names[0] == "Consensus"
    assert set(names[1:-1]) == {"ann", "bob", "lead"}
    live = one(doc, "#dashboard-live")
    assert live["hx-trigger"] == "sse:annotation"


def test_the_project_page_has_a_live_ceiling_summary(client: TestClient, session: Session) -> None:
    f = build(session)
    sign_in(client, "ann")
    doc = soup(client.get(url(client, "project", project_id=f.project.id)).text)
    summary = one(doc, "#ceiling-summary")
    assert summary["hx-get"] == url(client, "tally_summary", project_id=f.project.id, run="v1")
    assert len(summary.select(".bar-row")) == 3
    fragment = soup(client.get(summary["hx-get"], headers={"HX-Request": "true"}).text)
    assert fragment.select_one("#ceiling-summary") is not None
    opened = client.get(summary["hx-get"])  # as a page: the summary lives on the project page
    assert opened.status_code == 303
    assert opened.headers["location"] == url(client, "project", project_id=f.project.id)


def test_a_lead_adjudicates_and_the_verdict_overrides_the_vote(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    error = f.errors["e2"]
    page = url(client, "adjudication", project_id=f.project.id, run="v1", prediction_id=error.id)
    doc = soup(client.get(page).text)
    assert len(doc.select("#votes tbody tr")) == 2
    response = client.post(
        url(client, "adjudicate", project_id=f.project.id, run="v1", prediction_id=error.id),
        data={
            "csrftoken": csrf_token(client),
            "version": "0",
            "cause": [str(f.b.id)],
            "label_error": "true",
            "suggested_label": "fox",
        },
    )
    assert response.status_code == 303
    row = next(
        r
        for r in every_row(session, load_run(session, f.project, f.run, seen_by=everything()))
        if r.external_id == "e2"
    )
    assert row.causes == {f.b.id}
    assert row.label_error
    assert not row.disagreement
    adjudication = session.scalar(
        select(Annotation).where(
            Annotation.prediction_id == error.id, Annotation.kind == AnnotationKind.ADJUDICATION
        )
    )
    assert adjudication is not None
    events = session.scalars(
        select(AnnotationEvent).where(AnnotationEvent.annotation_id == adjudication.id)
    ).all()
    assert [e.action for e in events] == ["adjudicate"]
    # A stale form is refused, not applied.
    again = client.post(
        url(client, "adjudicate", project_id=f.project.id, run="v1", prediction_id=error.id),
        data={"csrftoken": csrf_token(client), "version": "0"},
    )
    assert again.status_code == 409


def test_an_adjudication_is_confirmed_and_shown_on_the_leads_review_screen(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    error = f.errors["e2"]
    review = url(client, "review_error", project_id=f.project.id, run_name="v1", external_id="e2")
    assert soup(client.get(review).text).select_one("#settled") is None  # not settled yet
    page = url(client, "adjudication", project_id=f.project.id, run="v1", prediction_id=error.id)
    form = one(soup(client.get(page, params={"back": review}).text), "#adjudication-form")
    assert attr(one(form, "input[name=back]"), "value") == review
    response = client.post(
        url(client, "adjudicate", project_id=f.project.id, run="v1", prediction_id=error.id),
        data={
            "csrftoken": csrf_token(client),
            "version": "0",
            "cause": [str(f.b.id)],
            "label_error": "true",
            "back": review,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == review  # back where the lead came from
    doc = soup(client.get(review).text)
    assert f"Final verdict for e2 saved: {f.b.name}; label error" in doc.get_text(" ", strip=True)
    settled = " ".join(one(doc, "#settled").get_text(" ", strip=True).split())
    assert settled.startswith("adjudicated Settled by")
    assert f"{f.b.name} ; label error" in settled
    assert attr(one(doc, "#revise-adjudication"), "href").startswith(page)
    # An off-site `back` is ignored: the lead lands on the sheet's disagreements.
    again = client.post(
        url(client, "adjudicate", project_id=f.project.id, run="v1", prediction_id=error.id),
        data={"csrftoken": csrf_token(client), "version": "1", "back": "//evil.example/"},
    )
    assert again.headers["location"].endswith("?disagreements=1")
    # Annotators are not shown the lead's verdict on their review screen.
    sign_in(client, "bob")
    assert soup(client.get(review).text).select_one("#settled") is None


def test_the_csv_has_one_line_per_error_of_the_slice(client: TestClient, session: Session) -> None:
    f = build(session)
    sign_in(client, "lead")
    response = client.get(sheet_url(client, f, "sheet_csv") + "?disagreements=1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text == (
        "external_id,label,prediction,confidence,blurry,dark,tiny,"
        "label_error,suggested_label,note,annotators,status,examined\n"
        'e2,cat,dog,0.2,1,0,0,0,,,"ann, bob",done,1\n'
        'e3,cat,dog,0.3,0,0,1,0,,,"ann, lead",done,1\n'
    )


def test_the_label_corrections_download(client: TestClient, session: Session) -> None:
    f = build(session)
    sign_in(client, "lead")
    response = client.get(sheet_url(client, f, "label_corrections"))
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["external_id", "current_label", "suggested_label", "annotators"],
        ["e5", "cat", "fox", "lead (adjudicated)"],
    ]


# --- the workbook: its footer formulas, computed here, equal the sheet's footer --------


def evaluate(book: openpyxl.Workbook, sheet_name: str, ref: str) -> float | str | None:
    """A tiny evaluator for the formulas the export writes: SUM, IF, AND, ISNUMBER, MAX,
    MIN, SQRT, cell references (also to another sheet) and arithmetic."""
    value: float | str | None = book[sheet_name][ref].value
    if not (isinstance(value, str) and value.startswith("=")):
        return value
    expr = value[1:]

    def cell(match: re.Match[str]) -> str:
        sheet = "Run" if match.group(1) else sheet_name
        result = evaluate(book, sheet, match.group(2).replace("$", ""))
        return repr(result if result is not None else 0)

    def total(match: re.Match[str]) -> str:
        cells = book[sheet_name][match.group(1).replace("$", "")]
        return repr(sum(c.value or 0 for (c,) in cells))

    expr = re.sub(r"SUM\(([A-Z]+\d+:[A-Z]+\d+)\)", total, expr)
    expr = re.sub(r"(Run!)?(\$?[A-Z]{1,2}\$?\d+)", cell, expr)
    expr = expr.replace("^", "**").replace("<>", "!=")
    expr = re.sub(r"(?<![<>!=])=(?!=)", "==", expr)
    scope = {
        "IF": lambda c, a, b: a if c else b,
        "AND": lambda *xs: all(xs),
        "ISNUMBER": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
        "MAX": max,
        "MIN": min,
        "SQRT": math.sqrt,
    }
    result: float | str | None = eval(expr, scope)  # noqa: S307 - our own formulas, in a test
    return result


def test_the_workbook_footer_formulas_compute_the_sheet_footer(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    for query in ("", "?meta=time%3Dnight"):
        response = client.get(sheet_url(client, f, "sheet_xlsx") + query)
        assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        sheet = book["Errors"]
        header = [c.value for c in sheet[1]]
        data = load_run(session, f.project, f.run, seen_by=everything())
        footer = tally(
            session, data, Filters(meta_key="time", meta_value="night") if query else Filters()
        )
        top = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "Count")
        formula = sheet.cell(top, 3).value
        assert isinstance(formula, str)
        assert formula.startswith("=SUM(")
        assert evaluate(book, "Errors", sheet.cell(top, 3).coordinate) == footer.examined
        for cause in footer.causes:
            column = header.index(cause.column.name) + 1
            cells = [sheet.cell(top + i, column).coordinate for i in range(8)]
            count, share, low, high, gain, gain_low, gain_high, rate = (
                evaluate(book, "Errors", c) for c in cells
            )
            assert count == cause.share.count
            assert share == pytest.approx(cause.share.value)
            assert low == pytest.approx(cause.share.low, abs=1e-12)
            assert high == pytest.approx(cause.share.high, abs=1e-12)
            assert cause.ceiling is not None
            assert cause.ceiling.gain is not None
            assert gain == pytest.approx(100 * cause.ceiling.gain)
            assert gain_low == pytest.approx(100 * cause.ceiling.gain_low, abs=1e-12)
            assert gain_high == pytest.approx(100 * cause.ceiling.gain_high, abs=1e-12)
            assert rate == pytest.approx(cause.ceiling.rate_if_fixed)


def live(client: TestClient, f: Fixture, query: str) -> str:
    response = client.get(
        sheet_url(client, f, "sheet_live") + query, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    return response.text


def test_a_live_update_sends_the_saved_row_and_the_footer_out_of_band(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    page = soup(client.get(sheet_url(client, f)).text)
    shown = ",".join(attr(tr, "id").removeprefix("error-") for tr in page.select("#sheet tbody tr"))
    columns = ",".join(str(th["data-cause"]) for th in page.select("#sheet thead th[data-cause]"))
    e2 = f.errors["e2"].id
    text = live(client, f, f"?page=1&changed={e2}&shown={shown}&columns={columns}")
    # Rows and the footer come in <template>s, which HTML parsers keep as trees apart.
    templates = re.findall(r"<template>(.*?)</template>", text, re.S)
    assert len(templates) == 2
    parts, answer = soup("".join(templates)), soup(text)
    rows = parts.select("tr[hx-swap-oob]")
    assert [r["id"] for r in rows] == [f"error-{e2}"]
    footer = one(parts, "tfoot#sheet-footer")
    assert footer["hx-swap-oob"] == "true"
    assert [td.text for td in footer.select(".count-row td[data-cause]")] == ["2", "0", "2"]
    assert one(answer, "#sheet-count")["hx-swap-oob"] == "true"
    assert not answer.select("#sheet-table"), "the table itself stays"


def test_a_live_update_sends_the_whole_table_when_the_pages_rows_changed(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    sign_in(client, "lead")
    e2 = f.errors["e2"].id
    # The page on screen was cut before e6 entered it (it shows five rows of six).
    answer = soup(live(client, f, f"?page=1&changed={e2}&shown=1,2,3,4,5&columns="))
    table = one(answer, "#sheet-table")
    assert table["hx-swap-oob"] == "true"
    assert len(table.select("#sheet tbody tr")) == 6
    assert not table.select("[hx-swap-oob] [hx-swap-oob]"), "no swap nested in another"
    opened = client.get(sheet_url(client, f, "sheet_live"), follow_redirects=False)
    assert opened.status_code == 303  # opened as a page, it is the sheet


@pytest.mark.parametrize("name", ["sheet_csv", "sheet_xlsx"])
def test_a_filtered_download_is_named_after_its_filters(
    client: TestClient, session: Session, name: str
) -> None:
    f = build(session)
    sign_in(client, "lead")  # downloads are for leads
    extension = name.removeprefix("sheet_")

    def saved_as(query: str) -> str:
        response = client.get(sheet_url(client, f, name) + query)
        assert response.status_code == 200
        return response.headers["content-disposition"]

    whole = saved_as("")
    assert f'filename="eyeball-{f.project.id}-v1-sheet.{extension}"' in whole
    sliced = saved_as("?disagreements=1&status=done&meta=source%3Dcam")
    assert (
        f'filename="eyeball-{f.project.id}-v1-sheet-status-done_meta-source-cam_disagreements'
        f'.{extension}"'
    ) in sliced
