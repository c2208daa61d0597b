"""Each rule has one definition, so every page and the API tell a user the same thing.

These scenarios once gave different answers on different pages (issue 11).
"""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import AnnotationStatus
from tests.conftest import sign_in
from tests.factories import (
    bearer,
    make_annotation,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def text_of(html: str, selector: str) -> str:
    element = BeautifulSoup(html, "html.parser").select_one(selector)
    assert element is not None, f"nothing matches {selector!r}"
    return " ".join(element.get_text(" ", strip=True).split())


def test_with_overlap_two_and_one_finished_review_every_page_says_none_is_done(
    client: TestClient, session: Session
) -> None:
    lead, ann, bob = make_user(session, "lead"), make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann, bob], overlap=2, name="Pets")
    run = make_run(session, project, name="v1", evaluated=10)
    finished = make_prediction(session, run, make_sample(session, project, external_id="e1"))
    make_prediction(session, run, make_sample(session, project, external_id="e2"))
    make_annotation(session, finished, ann, status=AnnotationStatus.DONE)
    url = client.app.url_path_for  # type: ignore[attr-defined]

    sign_in(client, "lead")
    page = client.get(url("project", project_id=project.id))
    assert "0 of 2 errors under review are done" in text_of(page.text, "main")

    # The lead has not reviewed e1, so the queue offers it; its progress bar is the team's.
    review = client.get(url("review_next", project_id=project.id), follow_redirects=True)
    assert text_of(review.text, "#team-progress") == "0 / 2"

    dashboard = client.get(url("dashboard", project_id=project.id, run="v1"))
    assert "0 of 2 errors under review are examined" in text_of(dashboard.text, "main")

    headers = bearer(session, lead)
    runs = client.get(url("api_runs", project_id=project.id), headers=headers).json()
    assert [(r["name"], r["done"], r["in_review"]) for r in runs] == [("v1", 0, 2)]
    tally = client.get(url("api_tally", project_id=project.id, run="v1"), headers=headers)
    assert tally.json()["examined"] == 0
