"""Pipelines of modules on the pages: declared on the settings page, blamed on the review
screen, read on the dashboard; the same figures for notebooks."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.projects.pipeline import AMBIGUOUS_NAME, DESIGN_NAME, GROUP_NAME
from app.models import AnnotationStatus, Cause, Project, User
from tests.conftest import csrf_token, sign_in
from tests.factories import (
    bearer,
    make_annotation,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.pages import one, soup
from tests.routes import url


def post(client: TestClient, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data={"csrftoken": csrf_token(client), **data})


@pytest.fixture
def project(session: Session) -> Project:
    lead = make_user(session, "lead")
    return make_project(session, lead, name="Cats", annotators=[make_user(session, "ann")])


def _declare(client: TestClient, project: Project) -> Any:
    return post(
        client,
        url(client, "project_pipeline_save", project_id=project.id),
        {
            "module-0-name": "detector",
            "module-0-accuracy": "97",
            "module-0-human": "97.5",
            "module-1-name": "classifier",
            "module-1-accuracy": "98.5",
            "module-1-human": "99",
            "module-2-name": "",
        },
    )


def test_a_lead_declares_the_pipeline_on_the_settings_page(
    client: TestClient, session: Session, project: Project
) -> None:
    sign_in(client, "lead")
    page = soup(client.get(url(client, "project_settings", project_id=project.id)).text)
    # Three blank rows to start with, nothing declared yet.
    assert len(page.select("#pipeline-form tbody tr")) == 3
    assert page.select_one("#pipeline-chain") is None

    saved = _declare(client, project)
    assert saved.status_code == 303
    page = soup(client.get(saved.headers["location"]).text)
    assert "Pipeline saved: detector → classifier." in one(page, ".notice").get_text()
    assert one(page, "#pipeline-chain").get_text(strip=True) == "detector → classifier"
    # The stored rows come back with their accuracies as percentages, and one blank row.
    assert [i.get("value") for i in page.select("#pipeline-form input[name$='-name']")] == [
        "detector",
        "classifier",
        "",
    ]
    assert one(page, "#f-module-0-human").get("value") == "97.5"
    names = set(session.scalars(select(Cause.name).where(Cause.project_id == project.id)))
    assert names == {"detector", "classifier", DESIGN_NAME, AMBIGUOUS_NAME}


def test_bad_input_is_shown_beside_its_row_not_a_500(
    client: TestClient, session: Session, project: Project
) -> None:
    sign_in(client, "lead")
    refused = post(
        client,
        url(client, "project_pipeline_save", project_id=project.id),
        {"module-0-name": "detector", "module-0-accuracy": "high", "module-1-name": "Detector"},
    )
    assert refused.status_code == 422
    page = soup(refused.text)
    assert "percentage" in one(page, "#f-module-0-accuracy-error").get_text()
    assert "already in the list" in one(page, "#f-module-1-name-error").get_text()
    # What was typed is kept.
    assert one(page, "#f-module-0-accuracy").get("value") == "high"
    assert session.scalars(select(Cause).where(Cause.project_id == project.id)).all() == []
    # Unknown module ids (a stale form) are refused on their row too.
    stale = post(
        client,
        url(client, "project_pipeline_save", project_id=project.id),
        {"module-0-id": "999", "module-0-name": "detector"},
    )
    assert stale.status_code == 422
    assert "reload" in one(soup(stale.text), "#f-module-0-name-error").get_text()


def test_annotators_cannot_declare_a_pipeline(client: TestClient, project: Project) -> None:
    sign_in(client, "ann")
    assert _declare(client, project).status_code == 403


def _annotated_run(session: Session, project: Project) -> None:
    """20 errors of 200 samples (10 %), 10 examined by the lead: detector alone on 5,
    classifier on 3, detector and the ambiguous mark on 2."""
    by_name = {c.name: c for c in session.scalars(select(Cause))}
    lead = session.scalars(select(User).where(User.username == "lead")).one()
    run = make_run(session, project, name="v1", evaluated=200, human_error=0.02)
    errors = [make_prediction(session, run, make_sample(session, project)) for _ in range(20)]
    blamed = [["detector"]] * 5 + [["classifier"]] * 3 + [["detector", AMBIGUOUS_NAME]] * 2
    for prediction, names in zip(errors, blamed, strict=False):
        causes = [by_name[n] for n in names]
        make_annotation(session, prediction, lead, causes=causes, status=AnnotationStatus.DONE)


def test_the_dashboard_shows_blame_per_module_and_the_decomposition_warning(
    client: TestClient, session: Session, project: Project
) -> None:
    sign_in(client, "lead")
    _declare(client, project)
    _annotated_run(session, project)
    page = soup(client.get(url(client, "dashboard", project_id=project.id, run="v1")).text)
    panel = one(page, "#pipeline-panel")
    rows = {
        one(tr, "th").get_text(" ", strip=True).split(" (")[0]: tr
        for tr in panel.select("#pipeline-blame tbody tr")
    }
    assert list(rows) == ["detector", "classifier", DESIGN_NAME]
    detector = rows["detector"].get_text(" ", strip=True)
    # 7 of 10 examined: 70 % (39.7-89.2 %), at most 7 points of the 10 % error rate.
    assert "70% (40%–89%)" in detector
    assert "≤ 7.00 pts" in detector
    link = one(rows["detector"], "a[data-blamed-sheet]")
    cause_id = link["data-blamed-sheet"]
    assert link["href"] == url(client, "sheet", project_id=project.id, run="v1") + (
        f"?cause={cause_id}"
    )
    # The sub-sheet of that module: its 7 errors, the sheet's own filter.
    sub = soup(client.get(str(link["href"])).text)
    assert len(sub.select("#sheet-table tbody tr[id^=error-]")) == 7
    assert "Most blamed: detector" in one(panel, "#pipeline-advice").get_text()
    assert "20% (6%–51%)" in one(panel, "#pipeline-ambiguous").get_text(" ", strip=True)
    assert "+8.0 pts" in one(panel, "#pipeline-whole").get_text()
    assert "decomposition" in one(panel, "#decomposition-warning").get_text()


def test_the_review_screen_shows_the_modules_with_the_methods_test(
    client: TestClient, session: Session, project: Project
) -> None:
    sign_in(client, "lead")
    _declare(client, project)
    run = make_run(session, project, name="v1")
    sample = make_sample(session, project)
    make_prediction(session, run, sample)
    page = soup(
        client.get(
            url(
                client,
                "review_error",
                project_id=project.id,
                run_name="v1",
                external_id=sample.external_id,
            )
        ).text
    )
    group = one(page, "#blame-causes")
    assert group["data-blame"] == "true"
    assert GROUP_NAME in one(group, "legend").get_text()
    assert "does the rest get it right?" in one(group, "#blame-test").get_text()
    boxes = {
        box.find_parent("label").get_text(" ", strip=True): box  # type: ignore[union-attr]
        for box in group.select("input[name=cause]")
    }
    assert list(boxes) == ["1 detector", "2 classifier", f"3 {DESIGN_NAME}", f"4 {AMBIGUOUS_NAME}"]
    # Modules and design blame a part (a key blames it alone); the mark only toggles.
    assert [box.has_attr("data-blames") for box in boxes.values()] == [True, True, True, False]
    label = boxes["1 detector"].find_parent("label")
    assert label is not None
    assert "Replace detector's output with a perfect one" in str(label.get("title"))


def test_notebooks_read_the_pipeline_and_blame_per_run(
    client: TestClient, session: Session, project: Project
) -> None:
    headers = bearer(session, "ann")
    empty = client.get(url(client, "api_pipeline", project_id=project.id), headers=headers)
    assert empty.status_code == 200
    assert empty.json()["declared"] is False
    assert empty.json()["runs"] == []

    sign_in(client, "lead")
    _declare(client, project)
    _annotated_run(session, project)
    # Under blind review an annotator's figures are of the errors they finished: none.
    blind = client.get(url(client, "api_pipeline", project_id=project.id), headers=headers).json()
    assert blind["runs"][0]["examined"] == 0
    assert blind["runs"][0]["hidden"].endswith("other reviews hidden until you finish yours")
    headers = bearer(session, "lead")
    body = client.get(url(client, "api_pipeline", project_id=project.id), headers=headers).json()
    assert body["chain"] == "detector → classifier"
    assert [(m["name"], m["accuracy"], m["human_accuracy"]) for m in body["modules"]] == [
        ("detector", 0.97, 0.975),
        ("classifier", 0.985, 0.99),
    ]
    (run,) = body["runs"]
    assert (run["run"], run["examined"], run["error_rate"]) == ("v1", 10, 0.1)
    detector = run["modules"][0]["tally"]
    assert (detector["count"], detector["share"]) == (7, 0.7)
    assert detector["ceiling_points"] == pytest.approx(7.0)
    assert run["design"]["tally"]["count"] == 0
    assert run["ambiguous"]["count"] == 2
    assert run["most_blamed"] == "detector"
    assert run["levels"][-1]["gap"] == pytest.approx(0.08)
    assert run["decomposition_suspect"] is True
