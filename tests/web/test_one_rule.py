"""Each rule has one definition, so every page and the API tell a user the same thing.

These scenarios once gave different answers on different pages (issue 11).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

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
from tests.pages import one, soup
from tests.routes import url


def text_of(html: str, selector: str) -> str:
    return " ".join(one(soup(html), selector).get_text(" ", strip=True).split())


def test_with_overlap_two_and_one_finished_review_every_page_says_none_is_done(
    client: TestClient, session: Session
) -> None:
    lead, ann, bob = make_user(session, "lead"), make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann, bob], overlap=2, name="Pets")
    run = make_run(session, project, name="v1", evaluated=10)
    finished = make_prediction(session, run, make_sample(session, project, external_id="e1"))
    make_prediction(session, run, make_sample(session, project, external_id="e2"))
    make_annotation(session, finished, ann, status=AnnotationStatus.DONE)

    sign_in(client, "lead")
    page = client.get(url(client, "project", project_id=project.id))
    assert "0 of 2 errors under review are done" in text_of(page.text, "main")

    # The lead has not reviewed e1, so the queue offers it; its progress bar is the team's.
    review = client.get(url(client, "review_next", project_id=project.id), follow_redirects=True)
    assert text_of(review.text, "#team-progress") == "0 / 2"

    dashboard = client.get(url(client, "dashboard", project_id=project.id, run="v1"))
    assert "0 of 2 errors under review are examined" in text_of(dashboard.text, "main")

    headers = bearer(session, lead)
    runs = client.get(url(client, "api_runs", project_id=project.id), headers=headers).json()
    assert [(r["name"], r["done"], r["in_review"]) for r in runs] == [("v1", 0, 2)]
    tally = client.get(url(client, "api_tally", project_id=project.id, run="v1"), headers=headers)
    assert tally.json()["examined"] == 0


DOWNLOADS = [
    ("sheet_csv", "sheet.csv"),
    ("sheet_xlsx", "sheet.xlsx"),
    ("label_corrections", "label-corrections.csv"),
]
API_DOWNLOADS = [
    ("api_annotations_csv", "annotations.csv"),
    ("api_annotations_jsonl", "annotations.jsonl"),
    ("api_annotations_json", "annotations.json"),
    ("api_spreadsheet_csv", "sheet.csv"),
    ("api_spreadsheet_xlsx", "sheet.xlsx"),
]


def test_a_run_named_in_any_script_downloads_on_every_path(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    run = make_run(session, project, name="模型 v2")
    make_prediction(session, run, make_sample(session, project))
    sign_in(client, "lead")
    headers = bearer(session, lead)
    for route, what, extra in [
        *((r, w, {}) for r, w in DOWNLOADS),
        *((r, w, headers) for r, w in API_DOWNLOADS),
    ]:
        response = client.get(
            url(client, route, project_id=project.id, run="模型 v2"), headers=extra
        )
        assert response.status_code == 200, (route, response.text)
        disposition = response.headers["content-disposition"]
        # The ASCII fallback for old clients, and the name as typed for everyone else.
        assert f'filename="eyeball-{project.id}-_v2-{what}"' in disposition
        assert saved_name(disposition) == f"eyeball-{project.id}-模型_v2-{what}"


def saved_name(disposition: str) -> str:
    """The name a browser saves under: RFC 6266's `filename*` wins over `filename`."""
    match = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    assert match is not None, disposition
    return unquote(match.group(1))
