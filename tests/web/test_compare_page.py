"""The compare page: did our fix work, for a lead or an annotator, in the browser."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, User
from app.templating import path_for
from tests.conftest import sign_in
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


def two_versions(session: Session) -> tuple[Project, User]:
    """v1 then v2 on the same 10 samples: a fixed, b newly wrong, c wrong in both."""
    annotator = make_user(session, "ann")
    project = make_project(session, annotators=[annotator])
    v1 = make_run(session, project, name="v1", evaluated=10)
    v2 = make_run(session, project, name="v2", evaluated=10)
    wrong = {"a": (True, False), "b": (False, True), "c": (True, True), "d": (False, False)}
    for name, (before, after) in wrong.items():
        sample = make_sample(session, project, external_id=name, label="cat")
        make_prediction(session, v1, sample, label="dog" if before else "cat")
        make_prediction(session, v2, sample, label="dog" if after else "cat")
    session.flush()
    return project, annotator


def page(client: TestClient, app: FastAPI, project: Project, **params: str) -> BeautifulSoup:
    response = client.get(path_for(app, "compare", project_id=project.id), params=params)
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def test_the_two_newest_runs_side_by_side_with_what_became_of_their_errors(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, _ = two_versions(session)
    sign_in(client, "ann")
    html = page(client, app, project)
    assert html.select_one("#f-a option[selected]").get_text() == "v1"  # type: ignore[union-attr]
    assert html.select_one("#f-b option[selected]").get_text() == "v2"  # type: ignore[union-attr]
    rate = html.select_one("#compare-rate")
    assert rate is not None
    text = rate.get_text(" ", strip=True)
    assert "20.0%" in text  # both runs: 2 errors of 10
    assert "+0.0 pts" in text
    assert "no clear change" in text

    def listed(key: str) -> list[tuple[str, str]]:
        section = html.select_one(f"#{key}")
        assert section is not None
        return [(a.get_text(), str(a["href"])) for a in section.select(".sample-links a")]

    review = path_for(app, "review_error", project_id=project.id, run_name="v1", external_id="a")
    # A fixed error opens in the run where it was an error; the others in the later run.
    assert listed("fixed") == [("a", review)]
    assert listed("new") == [
        ("b", path_for(app, "review_error", project_id=project.id, run_name="v2", external_id="b"))
    ]
    assert [name for name, _ in listed("stayed")] == ["c"]
    assert client.get(review).status_code == 200

    # Either way round, and the two in the order asked.
    back = page(client, app, project, a="v2", b="v1")
    assert [a.get_text() for a in back.select("#fixed .sample-links a")] == ["b"]


def test_the_page_says_what_it_needs_instead_of_failing(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead1")
    project = make_project(session, lead)
    make_run(session, project, name="only")
    sign_in(client, "lead1")
    assert "needs two runs" in page(client, app, project).get_text(" ")

    make_run(session, project, name="second")
    same = page(client, app, project, a="only", b="only")
    assert same.select_one("#same-run") is not None
    assert same.select_one("#compare-rate") is None

    missing = client.get(path_for(app, "compare", project_id=project.id), params={"a": "v9"})
    assert missing.status_code == 404
    assert "v9" in missing.text


def test_the_runs_and_project_pages_lead_to_it_and_each_run_to_its_sheet(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, _ = two_versions(session)
    sign_in(client, "ann")
    compare = path_for(app, "compare", project_id=project.id)
    for route in ("runs", "project"):
        html = BeautifulSoup(
            client.get(path_for(app, route, project_id=project.id)).text, "html.parser"
        )
        assert html.select_one("#compare-runs")["href"] == compare  # type: ignore[index]
    runs = BeautifulSoup(
        client.get(path_for(app, "runs", project_id=project.id)).text, "html.parser"
    )
    sheet = path_for(app, "sheet", project_id=project.id, run="v1")
    assert sheet in [a["href"] for a in runs.select("#runs a")]
    # The dashboard is the leads': an annotator is not offered it.
    assert not [a for a in runs.select("#runs a") if "dashboard" in str(a["href"])]


def test_outsiders_do_not_see_it(client: TestClient, app: FastAPI, session: Session) -> None:
    project, _ = two_versions(session)
    make_user(session, "stranger")
    sign_in(client, "stranger")
    response = client.get(path_for(app, "compare", project_id=project.id))
    assert response.status_code == 404
