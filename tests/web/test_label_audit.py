"""The label audit in the browser and for notebooks: a lead queues, anyone checks, the
dashboard and the API give the corrected error rate."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, User
from tests.conftest import csrf_token, sign_in
from tests.factories import bearer, make_prediction, make_project, make_run, make_sample, make_user
from tests.routes import url


def audited_run(session: Session) -> tuple[Project, User, User]:
    """Run v1: 2 errors, 8 correct predictions, of 10 evaluated."""
    lead, annotator = make_user(session, "lead1"), make_user(session, "ann1")
    project = make_project(session, lead, labels=["cat", "dog", "fox"], annotators=[annotator])
    run = make_run(session, project, name="v1", evaluated=10)
    for i in range(10):
        sample = make_sample(session, project, external_id=f"s{i}", label="cat")
        make_prediction(session, run, sample, label="dog" if i < 2 else "cat")
    session.commit()
    return project, lead, annotator


def post(client: TestClient, path: str, **data: Any) -> httpx.Response:
    return client.post(path, data={"csrftoken": csrf_token(client), **data})


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def text_of(page: BeautifulSoup, selector: str) -> str:
    found = page.select_one(selector)
    assert found is not None, selector
    return " ".join(found.get_text(" ", strip=True).split())


def test_a_lead_queues_and_an_annotator_checks_every_label(
    client: TestClient, session: Session
) -> None:
    project, _, _ = audited_run(session)
    audit = url(client, "label_audit", project_id=project.id, run="v1")
    sign_in(client, "lead1")
    first = soup(client.get(audit))
    assert "Check a random sample of the 8 correctly classified samples" in text_of(
        first, "#label-audit"
    )
    assert post(client, audit, size="abc").status_code == 422
    refused = post(client, audit, size="0")
    assert refused.status_code == 422
    assert "Between 1 and 5,000" in text_of(soup(refused), "#audit-queue")
    queued = post(client, audit, size="4")
    assert queued.status_code == 303
    page = soup(client.get(audit))
    assert text_of(page, "#check-labels").startswith("Check labels (4 left)")

    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "ann1")
    assert post(client, audit, size="1").status_code == 403  # leads queue
    wrong_given = ["fox", "", None, None]
    for i, suggested in enumerate(wrong_given):
        check = client.get(url(client, "label_check_next", project_id=project.id, run="v1"))
        assert check.status_code == 303
        shown = client.get(check.headers["location"])
        form = soup(shown).select_one("#check-form")
        assert form is not None
        assert text_of(soup(shown), "#check-position") == f"{i + 1} / 4"
        assert text_of(soup(shown), "#check-label") == "cat"
        verdict = (
            {"verdict": "wrong", "suggested_label": suggested} if suggested is not None else {}
        )
        answered = post(client, str(form["action"]), **(verdict or {"verdict": "right"}))
        assert answered.status_code == 303
    done = client.get(url(client, "label_check_next", project_id=project.id, run="v1"))
    assert done.headers["location"] == audit  # nothing left: back to the audit

    page = soup(client.get(audit))
    assert text_of(page, "#audit-wrong").startswith("50% (15%–85%) 2 of 4 checked")
    # (2 + 8 x 0.5) / 10 = 60 %, against 20 % observed.
    assert text_of(page, "#audit-corrected").startswith("60.0%")
    assert "against 20.0% observed" in text_of(page, "#audit-corrected")
    assert [td.get_text() for td in page.select("#audit-found td")][1:3] == ["cat", "fox"]


def test_a_bad_suggested_label_is_shown_on_the_check_and_nothing_is_stored(
    client: TestClient, session: Session
) -> None:
    project, _, _ = audited_run(session)
    audit = url(client, "label_audit", project_id=project.id, run="v1")
    sign_in(client, "lead1")
    post(client, audit, size="1")
    check = client.get(
        client.get(url(client, "label_check_next", project_id=project.id, run="v1")).headers[
            "location"
        ]
    )
    action = str(soup(check).select_one("#check-form")["action"])  # type: ignore[index]
    refused = post(client, action, verdict="wrong", suggested_label="owl")
    assert refused.status_code == 422
    assert "'owl' is not one of the project's labels." in text_of(soup(refused), "#check-form")
    assert post(client, action, verdict="maybe").status_code == 422
    assert text_of(soup(client.get(audit)), "#check-labels").startswith("Check labels (1 left)")


def test_the_dashboard_shows_the_audit_and_links_to_it(
    client: TestClient, session: Session
) -> None:
    project, _, _ = audited_run(session)
    sign_in(client, "lead1")
    board = soup(client.get(url(client, "dashboard", project_id=project.id, run="v1")))
    link = board.select_one("#open-label-audit")
    assert link is not None
    assert link["href"] == url(client, "label_audit", project_id=project.id, run="v1")
    assert link.get_text() == "Start a label audit"


def test_notebooks_queue_and_read_the_audit(client: TestClient, session: Session) -> None:
    project, lead, annotator = audited_run(session)
    headers = bearer(session, lead)
    session.commit()
    path = url(client, "api_label_audit", project_id=project.id, run="v1")
    before = client.get(path, headers=headers).json()
    assert (before["correct_stored"], before["queued"], before["corrected_error_rate"]) == (
        8,
        0,
        None,
    )
    assert before["error_rate"] == 0.2
    queued = client.post(path, json={"size": 3}, headers=headers)
    assert queued.status_code == 200
    assert queued.json()["queued"] == 3
    assert client.post(path, json={"size": 0}, headers=headers).status_code == 422
    assert client.post(path, json={"size": 3, "extra": 1}, headers=headers).status_code == 422
    other = bearer(session, annotator)
    session.commit()
    assert client.post(path, json={"size": 1}, headers=other).status_code == 403
    assert client.get(path, headers=other).json()["queued"] == 3
