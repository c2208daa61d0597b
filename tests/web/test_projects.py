"""Who sees which project, and what the project page tells a lead."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import sign_in
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.pages import one, soup
from tests.routes import url


def listed(client: TestClient) -> list[str]:
    response = client.get("/")
    assert response.status_code == 200
    return [
        a.get_text(strip=True) for a in soup(response.text).select("#project-list .project-link")
    ]


def test_a_member_sees_only_their_projects(client: TestClient, session: Session) -> None:
    ann = make_user(session, "ann")
    make_project(session, name="Cats", annotators=[ann])
    make_project(session, name="Dogs")
    sign_in(client, "ann")
    assert listed(client) == ["Cats"]


def test_a_member_of_no_project_sees_an_empty_list(client: TestClient, session: Session) -> None:
    make_user(session, "newbie")
    make_project(session, name="Secret")
    sign_in(client, "newbie")
    response = client.get("/")
    assert response.status_code == 200
    doc = soup(response.text)
    assert doc.select("#project-list") == []
    assert one(doc, "#no-projects h2").get_text(strip=True) == "No projects yet"


def test_admins_see_every_project(client: TestClient, session: Session) -> None:
    make_user(session, "root", admin=True)
    make_project(session, name="Birds")
    make_project(session, name="Apes")
    sign_in(client, "root")
    assert listed(client) == ["Apes", "Birds"]


def test_other_projects_are_not_found_not_forbidden(client: TestClient, session: Session) -> None:
    make_user(session, "ann")
    other = make_project(session, name="Hidden")
    sign_in(client, "ann")
    response = client.get(url(client, "project", project_id=other.id))
    assert response.status_code == 404
    assert "Hidden" not in response.text


def test_a_new_project_page_says_what_to_do_next(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, name="Fresh")
    sign_in(client, "lead")
    doc = soup(client.get(url(client, "project", project_id=project.id)).text)
    steps = [li.get_text(" ", strip=True) for li in doc.select("#next-steps li")]
    assert any(s.startswith("No run imported yet") for s in steps)
    assert any(s.startswith("No causes yet") for s in steps)


def test_the_project_page_shows_progress_runs_causes_and_team(
    client: TestClient, session: Session
) -> None:
    lead, ann = make_user(session, "lead"), make_user(session, "ann")
    project = make_project(session, lead, name="Pets", annotators=[ann])
    run = make_run(session, project, name="resnet-v1", evaluated=50)
    for i in range(5):
        make_prediction(
            session, run, make_sample(session, project, external_id=f"e{i}"), label="dog"
        )
    make_prediction(session, run, make_sample(session, project, external_id="ok"), label="cat")
    make_cause(session, project, "blurry", key="1", description="Motion or focus blur")
    sign_in(client, "ann")
    doc = soup(client.get(url(client, "project", project_id=project.id)).text)
    assert doc.select("#next-steps") == []
    progress = " ".join(one(doc, "#progress").get_text(" ", strip=True).split())
    assert "5 errors in 50 evaluated samples (error rate 10.0%)" in progress
    assert [td.get_text(strip=True) for td in doc.select("#runs tbody td:first-child")] == [
        "resnet-v1shown"
    ]
    cause = one(doc, "#causes li")
    assert cause.get_text(" ", strip=True) == "1 blurry 0"  # key, name, times used
    assert cause["title"] == "Motion or focus blur"
    assert {one(li, ".badge").get_text() for li in doc.select("#team li")} == {
        "lead",
        "annotator",
    }


def test_unknown_error_rate_is_said_not_guessed(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    run = make_run(session, project, evaluated=None)
    make_prediction(session, run, make_sample(session, project), label="dog")
    sign_in(client, "lead")
    doc = soup(client.get(url(client, "project", project_id=project.id)).text)
    assert "error rate unknown" in one(doc, "#progress").get_text(" ", strip=True)
