"""Blind review on every way in: no page and no endpoint hands an annotator anything of
another person's verdict on an error they have not finished.

The routes are enumerated, as the access matrix is (tests/api/test_access_api.py), so a
page or an endpoint added later is held to the rule without anyone writing its test: it
must fill its path from the parameters below, or this test fails and says which.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.projects.access import get_access
from app.domain.review.annotations import Draft, save
from app.models import AnnotationStatus
from tests.conftest import csrf_token, sign_in
from tests.factories import bearer
from tests.pages import one, soup
from tests.routes import named_routes, url
from tests.sheet_data import NOTE, SUGGESTED, Fixture, build_with_secrets

# Written by ann on e3 only, which bob has not reviewed: neither may reach him.
MARKERS = (NOTE.encode(), SUGGESTED.encode())

# Not read here: the event stream never ends (tests/test_live.py holds it to the rule),
# media are pixels, and the API's own description is no one's verdict.
NOT_READ = {"project_events", "media_original", "media_thumbnail", "openapi", "api_docs"}
NOT_READ |= {"api_media_original", "api_media_thumbnail"}


def params_of(f: Fixture) -> dict[str, Any]:
    e3 = f.errors["e3"]
    return {
        "project_id": f.project.id,
        "run": "v1",
        "run_name": "v1",
        "run_id": f.run.id,
        "external_id": "e3",
        "sample_id": "e3",
        "prediction_id": e3.id,
        "cause_id": f.a.id,
        "user_id": f.ann.id,
        "username": "ann",
        "check_id": 1,
        "job_id": 1,
        "token_id": 1,
    }


def readers(client: TestClient) -> list[tuple[str, str]]:
    """Every GET route of a project, on the pages and in the API."""
    return sorted(
        (name, path)
        for name, path, methods in named_routes(client)
        if "GET" in methods and "{project_id}" in path and name not in NOT_READ
    )


def concrete(path: str, f: Fixture) -> str:
    values = params_of(f)
    names = [n.split(":")[0] for n in re.findall(r"{([^}]+)}", path)]
    unknown = [n for n in names if n not in values]
    assert not unknown, f"{path}: give this test a value for {unknown}"
    return re.sub(r"{([^}:]+)(:[^}]*)?}", lambda m: str(values[m.group(1)]), path)


# Query parameters a reader needs to show anything (else it refuses with 422).
QUERY = {"api_compare": {"runs": "v1,v1"}}


def read(client: TestClient, session: Session, who: str, name: str, path: str, htmx: bool) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    if path.startswith("/api/"):
        headers |= bearer(session, who)
    return client.get(path, headers=headers, params=QUERY.get(name), follow_redirects=True)


def test_every_reader_is_in_the_list(client: TestClient) -> None:
    names = {name for name, _ in readers(client)}
    assert {
        "sheet",
        "sheet_live",
        "tally_summary",
        "project",
        "review_error",
        "review_next",
        "api_run_errors",
        "api_tally",
        "api_annotations_json",
        "api_pipeline",
        "api_compare",
    } <= names


@pytest.mark.parametrize("reveal", [False, True], ids=["consensus only", "marks revealed"])
def test_no_page_or_endpoint_shows_an_annotator_others_verdicts_before_theirs(
    client: TestClient, session: Session, reveal: bool
) -> None:
    f = build_with_secrets(session)
    f.project.reveal_marks = reveal
    session.flush()
    sign_in(client, "bob")
    for name, template in readers(client):
        path = concrete(template, f)
        for htmx in (False, True):
            response = read(client, session, "bob", name, path, htmx)
            # Read, or refused as a lead's page: never a reader this test cannot open.
            assert response.status_code in {200, 403, 404}, (name, response.text[:300])
            for marker in MARKERS:
                assert marker not in response.content, (name, htmx, marker)


def test_the_markers_do_reach_a_lead_and_bob_once_he_finished(
    client: TestClient, session: Session
) -> None:
    """The test above would pass if the markers reached no one: they reach a lead, and
    bob once he finished e3 and the project shows everyone's marks."""
    f = build_with_secrets(session)
    sign_in(client, "lead")
    sheet = client.get(url(client, "sheet", project_id=f.project.id, run="v1"))
    assert NOTE in sheet.text
    errors = client.get(
        url(client, "api_run_errors", project_id=f.project.id, run="v1"),
        headers=bearer(session, "lead"),
    )
    assert SUGGESTED in errors.text
    save(
        session,
        get_access(session, f.bob, f.project.id),
        f.errors["e3"],
        Draft(frozenset({f.c.id}), status=AnnotationStatus.DONE),
        expected_version=0,
    )
    f.project.reveal_marks = True
    session.flush()
    client.cookies.clear()
    sign_in(client, "bob")
    assert NOTE in client.get(url(client, "sheet", project_id=f.project.id, run="v1")).text


def test_the_sheet_and_the_api_say_what_is_hidden(client: TestClient, session: Session) -> None:
    f = build_with_secrets(session)
    sign_in(client, "bob")
    page = soup(client.get(url(client, "sheet", project_id=f.project.id, run="v1")).text)
    assert one(page, "#hidden-reviews").get_text(" ", strip=True) == (
        "Blind review: 3 other reviews hidden until you finish yours."
    )
    e3 = one(page, f"#error-{f.errors['e3'].id} .hidden-reviews")
    assert e3.get_text(strip=True) == "2 hidden"
    headers = bearer(session, "bob")
    tally = client.get(
        url(client, "api_tally", project_id=f.project.id, run="v1"), headers=headers
    ).json()
    assert (tally["blind"], tally["hidden_reviews"], tally["examined"]) == (True, 3, 3)
    assert tally["hidden"] == "3 other reviews hidden until you finish yours"
    errors = client.get(
        url(client, "api_run_errors", project_id=f.project.id, run="v1"), headers=headers
    ).json()["errors"]
    e3_out = next(e for e in errors if e["sample_id"] == "e3")
    assert (e3_out["annotations"], e3_out["causes"], e3_out["hidden_reviews"]) == ([], [], 2)
    compared = client.get(
        url(client, "api_compare", project_id=f.project.id),
        params={"runs": "v1,v1"},
        headers=headers,
    ).json()
    assert compared["a"]["hidden"] == "3 other reviews hidden until you finish yours"
    # Another's reviews, when this project never shows them: a plain refusal, not zeros.
    refused = client.get(
        url(client, "api_tally", project_id=f.project.id, run="v1"),
        params={"annotator": "ann"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "your own reviews only" in refused.text


def test_blind_review_is_on_for_a_new_project_and_a_lead_turns_it_off(
    client: TestClient, session: Session
) -> None:
    f = build_with_secrets(session)
    sign_in(client, "lead")
    new = soup(client.get(url(client, "project_new")).text)
    assert one(new, "input[name=blind_review]").has_attr("checked")
    assert not one(new, "input[name=reveal_marks]").has_attr("checked")
    settings_page = soup(client.get(url(client, "project_settings", project_id=f.project.id)).text)
    assert one(settings_page, "input[name=blind_review]").has_attr("checked")
    # The form, as a lead sends it with the box unticked.
    path = url(client, "project_settings_save", project_id=f.project.id)
    saved = client.post(
        path,
        data={
            "csrftoken": csrf_token(client),
            "name": "Pets",
            "kind": "image",
            "overlap": "2",
            "review_order": "random",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(f.project)
    assert (f.project.blind_review, f.project.reveal_marks) == (False, False)
    client.cookies.clear()
    sign_in(client, "bob")
    assert NOTE in client.get(url(client, "sheet", project_id=f.project.id, run="v1")).text


def test_the_api_reads_and_changes_the_settings_for_leads_only(
    client: TestClient, session: Session
) -> None:
    f = build_with_secrets(session)
    api = url(client, "api_project", project_id=f.project.id)
    lead, bob = bearer(session, "lead"), bearer(session, "bob")
    shown = client.get(api, headers=bob).json()
    assert (shown["blind_review"], shown["reveal_marks"]) == (True, False)
    refused = client.patch(api, json={"blind_review": False}, headers=bob)
    assert (refused.status_code, refused.json()["detail"]) == (
        403,
        "Only the project's leads can do this.",
    )
    changed = client.patch(api, json={"reveal_marks": True}, headers=lead)
    assert (changed.json()["blind_review"], changed.json()["reveal_marks"]) == (True, True)
    assert client.patch(api, json={"blind_review": "perhaps"}, headers=lead).status_code == 422
    created = client.post(
        url(client, "api_create_project"), json={"name": "Cars", "kind": "image"}, headers=lead
    )
    assert created.json()["blind_review"] is True
