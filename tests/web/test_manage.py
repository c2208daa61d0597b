"""The management pages in a browser-less client: forms, errors by field, access rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.projects import causes
from app.domain.projects.access import get_access
from app.domain.review.visibility import everything
from app.models import Cause, Membership, Project, ProjectRole, User
from tests.conftest import csrf_token, sign_in
from tests.factories import (
    PASSWORD,
    make_cause,
    make_project,
    make_run,
    make_user,
)
from tests.pages import attr, one, soup
from tests.routes import url


def post(client: TestClient, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return client.post(path, data={"csrftoken": csrf_token(client), **(data or {})}, **kwargs)


def field_error(doc: BeautifulSoup, field_id: str) -> str:
    node = doc.select_one(f"#{field_id}-error")
    assert node is not None, f"no error shown for {field_id}"
    return node.get_text(strip=True)


def value_of(doc: BeautifulSoup, field_id: str) -> str:
    node = doc.select_one(f"#{field_id}")
    assert isinstance(node, Tag), f"no field {field_id}"
    if node.name == "textarea":
        return node.get_text()
    return str(node.get("value", ""))


def flashes(client: TestClient, response: Any) -> list[str]:
    assert response.status_code == 303, response.text
    page = soup(client.get(response.headers["location"]).text)
    return [p.get_text(strip=True) for p in page.select(".notice")]


@pytest.fixture
def team(session: Session) -> dict[str, Any]:
    lead, ann, outsider = make_user(session, "lead"), make_user(session, "ann"), make_user(session)
    project = make_project(session, lead, name="Pets", annotators=[ann])
    make_project(session, outsider, name="Elsewhere")
    run = make_run(session, project, name="v1")
    cause = make_cause(session, project, "blurry", key="1")
    return {
        "lead": lead,
        "ann": ann,
        "outsider": outsider,
        "project": project,
        "run": run,
        "cause": cause,
    }


PROJECT_PAGES = [
    ("project", {}),
    ("team", {}),
    ("causes", {}),
    ("runs", {}),
    ("project_settings", {}),
    ("project_archive_confirm", {}),
    ("run_edit", {"run_id": "run"}),
    ("cause_edit", {"cause_id": "cause"}),
    ("cause_merge_preview", {"cause_id": "cause"}),
    ("cause_delete_confirm", {"cause_id": "cause"}),
    ("team_remove_confirm", {"user_id": "ann"}),
]


def project_url(client: TestClient, team: dict[str, Any], name: str, params: dict[str, str]) -> str:
    ids = {key: team[value].id for key, value in params.items()}
    return url(client, name, project_id=team["project"].id, **ids)


@pytest.mark.parametrize(("name", "params"), PROJECT_PAGES)
def test_every_project_page_renders_for_a_lead_and_is_hidden_from_outsiders(
    client: TestClient, team: dict[str, Any], name: str, params: dict[str, str]
) -> None:
    path = project_url(client, team, name, params)
    anonymous = client.get(path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith(url(client, "sign_in"))
    sign_in(client, "lead")
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert soup(page.text).select_one("nav.tabs a[aria-current=page]") is not None or name in {
        "project_archive_confirm",
        "cause_delete_confirm",
        "team_remove_confirm",
        "cause_merge_preview",
    }
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, team["outsider"].username)
    hidden = client.get(path)
    assert hidden.status_code == 404
    assert "Pets" not in hidden.text


@pytest.mark.parametrize("name", ["account", "project_new"])
def test_account_and_new_project_pages_render(
    client: TestClient, team: dict[str, Any], name: str
) -> None:
    sign_in(client, "lead")
    assert client.get(url(client, name)).status_code == 200


def test_annotators_see_team_and_causes_read_only(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project, cause = team["project"], team["cause"]
    sign_in(client, "ann")
    team_page = soup(client.get(url(client, "team", project_id=project.id)).text)
    assert {
        td.get_text(" ", strip=True).split(" @")[0]
        for td in team_page.select("#team td:first-child")
    } == {"lead", "ann"}
    assert team_page.select("#team form, #add-member") == []
    causes_page = soup(client.get(url(client, "causes", project_id=project.id)).text)
    assert [n.get_text(strip=True) for n in causes_page.select("#taxonomy .cause-name")] == [
        "blurry"
    ]
    assert causes_page.select("#board form") == []
    assert "Settings" not in [a.get_text() for a in causes_page.select("nav.tabs a")]
    writes = [
        ("team_add", {}, {"username": "lead", "role": "annotator"}),
        ("team_role", {"user_id": team["lead"].id}, {"role": "annotator"}),
        ("team_remove", {"user_id": team["lead"].id}, {}),
        ("cause_create", {}, {"name": "dark"}),
        ("cause_save", {"cause_id": cause.id}, {"name": "x", "group_id": str(cause.group_id)}),
        ("cause_move", {"cause_id": cause.id}, {"step": "up"}),
        ("cause_archive", {"cause_id": cause.id}, {}),
        ("cause_merge", {"cause_id": cause.id}, {"target": str(cause.id)}),
        ("group_create", {}, {"group_name": "G", "group_kind": "multi"}),
        ("run_save", {"run_id": team["run"].id}, {"name": "x"}),
        ("run_default", {}, {"run_id": str(team["run"].id)}),
        ("project_settings_save", {}, {"name": "X", "kind": "image", "overlap": "1"}),
        ("project_archive", {}, {}),
        ("project_delete", {}, {"confirm_name": "Pets"}),
    ]
    for name, params, data in writes:
        response = post(client, url(client, name, project_id=project.id, **params), data)
        assert response.status_code == 403, name
    session.expire_all()
    assert session.get_one(Cause, cause.id).name == "blurry"


def test_annotators_add_causes_when_the_project_allows(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    team["project"].annotators_may_add_causes = True
    session.flush()
    sign_in(client, "ann")
    page = soup(client.get(url(client, "causes", project_id=team["project"].id)).text)
    assert page.select_one("#add-cause form") is not None
    assert page.select("#taxonomy form") == []
    response = post(
        client, url(client, "cause_create", project_id=team["project"].id), {"name": "dark"}
    )
    assert flashes(client, response) == ["Cause “dark” (key 2) added."]


# --- new project and settings --------------------------------------------------------


def test_new_project_keeps_what_was_typed_and_shows_errors_by_field(
    client: TestClient, team: dict[str, Any]
) -> None:
    sign_in(client, "lead")
    typed = {
        "name": "Pets",
        "description": "Why the cat model fails",
        "kind": "text",
        "labels": "cat\ndog",
        "overlap": "zero",
        "annotators_may_add_causes": "on",
    }
    response = post(client, url(client, "project_create"), typed)
    assert response.status_code == 422
    doc = soup(response.text)
    assert "whole number" in field_error(doc, "f-overlap")
    assert value_of(doc, "f-name") == "Pets"
    assert value_of(doc, "f-description") == "Why the cat model fails"
    assert value_of(doc, "f-labels") == "cat\ndog"
    assert one(doc, "#f-kind option[selected]")["value"] == "text"
    assert one(doc, "#f-annotators_may_add_causes").has_attr("checked")

    taken = post(client, url(client, "project_create"), {**typed, "overlap": "2"})
    assert taken.status_code == 409
    assert "already exists" in field_error(soup(taken.text), "f-name")


def test_a_lead_creates_a_project_and_lands_on_its_guide(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    sign_in(client, "lead")
    data = {"name": "Birds", "kind": "image", "labels": "robin, crow", "overlap": "2"}
    response = post(client, url(client, "project_create"), data)
    assert response.status_code == 303
    project = session.scalar(select(Project).where(Project.name == "Birds"))
    assert project is not None
    assert project.labels == ["robin", "crow"]
    page = soup(client.get(response.headers["location"]).text)
    steps = [li.get_text(" ", strip=True) for li in page.select("#next-steps li")]
    assert steps[0].startswith("Only you are on the team")
    assert page.select_one("#next-steps a[href$='/team']") is not None
    assert one(page, "#next-steps a[href$='/causes']").get_text() == "add the first ones"


def test_members_see_new_project_only_when_the_site_allows(
    client: TestClient, session: Session
) -> None:
    make_user(session, "root", admin=True)
    make_user(session, "member")
    sign_in(client, "member")
    assert soup(client.get("/").text).select("#new-project") == []
    assert client.get(url(client, "project_new")).status_code == 403
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "root")
    saved = post(client, url(client, "site_settings_save"), {"members_may_create_projects": "on"})
    assert flashes(client, saved) == ["Site settings saved."]
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "member")
    assert soup(client.get("/").text).select_one("#new-project") is not None
    assert client.get(url(client, "project_new")).status_code == 200


def test_settings_archive_and_restore(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project = team["project"]
    sign_in(client, "lead")
    page = soup(client.get(url(client, "project_settings", project_id=project.id)).text)
    assert value_of(page, "f-name") == "Pets"
    bad = post(
        client,
        url(client, "project_settings_save", project_id=project.id),
        {"name": "", "kind": "image", "overlap": "1", "description": "kept"},
    )
    assert bad.status_code == 422
    assert value_of(soup(bad.text), "f-description") == "kept"
    confirm = soup(client.get(url(client, "project_archive_confirm", project_id=project.id)).text)
    assert "read-only" in one(confirm, "#confirm p").get_text()
    done = post(client, attr(one(confirm, "#confirm form"), "action"))
    assert flashes(client, done) == ["Project archived: it is read-only until restored."]
    assert [a.get_text() for a in soup(client.get("/").text).select(".project-link")] == []
    archived = soup(client.get("/?archived=1").text)
    assert [a.get_text() for a in archived.select(".project-link")] == ["Pets"]
    causes_page = soup(client.get(url(client, "causes", project_id=project.id)).text)
    assert causes_page.select("#board form") == []
    assert causes_page.select_one("#archived-banner") is not None
    post(client, url(client, "project_restore", project_id=project.id))
    session.expire_all()
    assert not session.get_one(Project, project.id).is_archived


def test_only_admins_delete_and_must_type_the_name(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project = team["project"]
    team_ids = {"project": project.id}
    make_user(session, "root", admin=True)
    sign_in(client, "lead")
    assert (
        client.get(url(client, "project_delete_confirm", project_id=project.id)).status_code == 403
    )
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "root")
    wrong = post(
        client, url(client, "project_delete", project_id=project.id), {"confirm_name": "pets"}
    )
    assert wrong.status_code == 422
    doc = soup(wrong.text)
    assert value_of(doc, "f-confirm_name") == "pets"
    assert "exactly" in field_error(doc, "f-confirm_name")
    done = post(
        client, url(client, "project_delete", project_id=project.id), {"confirm_name": "Pets"}
    )
    assert flashes(client, done) == ["Project “Pets” deleted."]
    session.expunge_all()
    assert session.get(Project, team_ids["project"]) is None


# --- team --------------------------------------------------------------------------


def test_adding_an_unknown_member_keeps_the_form(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project = team["project"]
    make_user(session, "bob")
    sign_in(client, "lead")
    path = url(client, "team_add", project_id=project.id)
    bad = post(client, path, {"username": "bobby", "role": "lead"})
    assert bad.status_code == 422
    doc = soup(bad.text)
    assert "No user is called 'bobby'" in field_error(doc, "f-username")
    assert value_of(doc, "f-username") == "bobby"
    assert one(doc, "#f-role option[selected]")["value"] == "lead"
    done = post(client, path, {"username": "bob", "role": "annotator"})
    assert flashes(client, done) == ["bob joined the team as annotator."]


def test_the_last_lead_is_told_why_they_cannot_leave(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project, lead, ann = team["project"], team["lead"], team["ann"]
    sign_in(client, "lead")
    refused = post(client, url(client, "team_remove", project_id=project.id, user_id=lead.id))
    assert refused.status_code == 409
    assert "only lead" in one(soup(refused.text), "#team-error").get_text()
    confirm = soup(
        client.get(url(client, "team_remove_confirm", project_id=project.id, user_id=ann.id)).text
    )
    assert "annotations stay" in one(confirm, "#confirm").get_text()
    done = post(client, url(client, "team_remove", project_id=project.id, user_id=ann.id))
    assert done.status_code == 303
    membership = session.get(Membership, (project.id, ann.id))
    assert membership is not None
    assert membership.removed_at is not None
    role = post(
        client,
        url(client, "team_role", project_id=project.id, user_id=lead.id),
        {"role": "annotator"},
    )
    assert role.status_code == 409


# --- causes ------------------------------------------------------------------------


def test_adding_a_cause_without_javascript_and_with_htmx(
    client: TestClient, team: dict[str, Any]
) -> None:
    project = team["project"]
    sign_in(client, "lead")
    path = url(client, "cause_create", project_id=project.id)
    plain = post(client, path, {"name": "dark", "description": "Underexposed", "key": "d"})
    assert flashes(client, plain) == ["Cause “dark” (key d) added."]
    htmx = post(client, path, {"name": "tiny"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200
    board = soup(htmx.text)
    assert board.select_one("body") is None  # only the fragment
    assert one(board, "#board .notice").get_text() == "Cause “tiny” (key 2) added."
    names = [n.get_text() for n in board.select("#taxonomy .cause-name")]
    assert names == ["blurry", "dark", "tiny"]


def test_a_close_name_is_offered_and_can_be_insisted_on(
    client: TestClient, team: dict[str, Any]
) -> None:
    project = team["project"]
    sign_in(client, "lead")
    path = url(client, "cause_create", project_id=project.id)
    close = post(
        client, path, {"name": "blury", "description": "kept"}, headers={"HX-Request": "true"}
    )
    assert close.status_code == 409
    doc = soup(close.text)
    assert "'blurry'" in field_error(doc, "f-name")
    assert value_of(doc, "f-description") == "kept"
    assert doc.select_one("#f-allow_similar") is not None
    insisted = post(client, path, {"name": "blury", "allow_similar": "on"})
    assert insisted.status_code == 303


def test_inline_edit_with_key_conflict(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project, cause = team["project"], team["cause"]
    other = make_cause(session, project, "dark", key="2")
    sign_in(client, "lead")
    form = soup(
        client.get(
            url(client, "cause_edit", project_id=project.id, cause_id=other.id),
            headers={"HX-Request": "true"},
        ).text
    )
    assert value_of(form, "edit-name") == "dark"
    path = url(client, "cause_save", project_id=project.id, cause_id=other.id)
    data = {
        "name": "very dark",
        "description": "Underexposed",
        "key": "1",
        "group_id": str(other.group_id),
    }
    clash = post(client, path, data, headers={"HX-Request": "true"})
    assert clash.status_code == 409
    doc = soup(clash.text)
    assert "already used by 'blurry'" in field_error(doc, "edit-key")
    assert value_of(doc, "edit-name") == "very dark"
    saved = post(client, path, {**data, "key": "3"})
    assert saved.status_code == 303
    session.expire_all()
    assert (other.name, other.key, cause.key) == ("very dark", "3", "1")


def test_reorder_with_buttons(client: TestClient, team: dict[str, Any], session: Session) -> None:
    project, first = team["project"], team["cause"]
    second = make_cause(session, project, "dark", position=1)
    sign_in(client, "lead")
    page = soup(client.get(url(client, "causes", project_id=project.id)).text)
    assert one(page, f"#up-{first.id}").has_attr("disabled")
    moved = post(
        client,
        url(client, "cause_move", project_id=project.id, cause_id=second.id),
        {"step": "up"},
        headers={"HX-Request": "true"},
    )
    names = [n.get_text() for n in soup(moved.text).select("#taxonomy .cause-name")]
    assert names == ["dark", "blurry"]


def test_merge_preview_then_merge(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    from app.domain.review.annotations import Draft, save
    from tests.factories import make_prediction, make_sample

    project, blurry, lead = team["project"], team["cause"], team["lead"]
    fuzzy = make_cause(session, project, "fuzzy")
    access = get_access(session, lead, project.id)
    for _ in range(2):
        prediction = make_prediction(session, team["run"], make_sample(session, project))
        save(
            session, access, prediction, Draft(cause_ids=frozenset({fuzzy.id})), expected_version=0
        )
    sign_in(client, "lead")
    preview_url = url(client, "cause_merge_preview", project_id=project.id, cause_id=fuzzy.id)
    chooser = soup(client.get(preview_url).text)
    assert [o.get_text() for o in chooser.select("#f-target option")] == ["blurry"]
    assert chooser.select("#merge-preview") == []
    preview = soup(client.get(preview_url, params={"target": blurry.id}).text)
    text = " ".join(one(preview, "#merge-preview").get_text(" ", strip=True).split())
    assert text.startswith("2 annotations on 2 errors will change from “fuzzy” to “blurry”")
    form = preview.select_one("#merge-preview form")
    assert form is not None
    done = post(client, str(form["action"]), {"target": str(blurry.id)})
    assert flashes(client, done) == [
        "“fuzzy” merged into “blurry”: 2 annotations moved; “fuzzy” is archived."
    ]
    session.expire_all()
    tax = causes.taxonomy(session, project, everything())
    assert tax.counts == {blurry.id: 2}
    assert [c.name for c in tax.archived] == ["fuzzy"]


def test_unused_causes_are_deleted_after_confirming(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project, cause = team["project"], team["cause"]
    team_ids = {"cause": cause.id}
    sign_in(client, "lead")
    confirm = soup(
        client.get(
            url(client, "cause_delete_confirm", project_id=project.id, cause_id=cause.id)
        ).text
    )
    done = post(client, attr(one(confirm, "#confirm form"), "action"))
    assert flashes(client, done) == ["Cause “blurry” deleted."]
    session.expunge_all()
    assert session.get(Cause, team_ids["cause"]) is None


def test_groups_are_created_from_the_causes_page(client: TestClient, team: dict[str, Any]) -> None:
    project = team["project"]
    sign_in(client, "lead")
    path = url(client, "group_create", project_id=project.id)
    empty = post(client, path, {"group_name": " ", "group_kind": "single"})
    assert empty.status_code == 422
    assert field_error(soup(empty.text), "f-group_name") == "Give the group a name."
    done = post(client, path, {"group_name": "Image quality", "group_kind": "single"})
    page = soup(client.get(done.headers["location"]).text)
    headings = [h.get_text(" ", strip=True) for h in page.select("#taxonomy h3")]
    assert headings[-1] == "Image quality (one per error)"


# --- runs --------------------------------------------------------------------------


def test_run_edit_keeps_values_and_stores_percentages(
    client: TestClient, team: dict[str, Any], session: Session
) -> None:
    project, run = team["project"], team["run"]
    sign_in(client, "lead")
    path = url(client, "run_save", project_id=project.id, run_id=run.id)
    bad = post(client, path, {"name": "v1", "evaluated": "many", "human_error": "1.5"})
    assert bad.status_code == 422
    doc = soup(bad.text)
    assert "whole number" in field_error(doc, "f-evaluated")
    assert value_of(doc, "f-human_error") == "1.5"
    done = post(client, path, {"name": "v1", "evaluated": "500", "human_error": "1.5"})
    page = soup(client.get(done.headers["location"]).text)
    row = page.select_one(f"#run-{run.id}")
    assert row is not None
    assert "1.5%" in [td.get_text(strip=True) for td in row.select("td")]
    chosen = post(
        client, url(client, "run_default", project_id=project.id), {"run_id": str(run.id)}
    )
    assert flashes(client, chosen) == ["The project page now opens on “v1”."]


# --- my account, users -------------------------------------------------------------


def test_password_change_keeps_this_session_and_ends_the_others(
    app: Any, client: TestClient, team: dict[str, Any]
) -> None:
    sign_in(client, "lead")
    with TestClient(app, follow_redirects=False) as other:
        sign_in(other, "lead")
        assert other.get("/").status_code == 200
        path = url(client, "account_password")
        bad = post(
            client, path, {"current_password": "nope", "new_password": "x", "repeat_password": "y"}
        )
        assert bad.status_code == 422
        doc = soup(bad.text)
        assert field_error(doc, "f-current_password") == "That is not your current password."
        assert value_of(doc, "f-current_password") == ""  # never echoed back
        new = "a much better secret"
        done = post(
            client,
            path,
            {"current_password": PASSWORD, "new_password": new, "repeat_password": new},
        )
        assert flashes(client, done) == ["Password changed. You were signed out everywhere else."]
        assert client.get("/").status_code == 200
        assert other.get("/").status_code == 303


def test_without_a_run_the_token_page_shows_no_snippet_that_would_fail(
    client: TestClient, team: dict[str, Any]
) -> None:
    sign_in(client, "lead")  # leads "Pets" (with a run); "Elsewhere" is not theirs
    doc = soup(post(client, url(client, "token_create"), {"token_name": "a"}).text)
    assert f"/projects/{team['project'].id}/runs/latest/" in one(doc, "#token-snippet").get_text()
    client.cookies.clear()
    sign_in(client, team["outsider"].username)  # only "Elsewhere", which has no run
    doc = soup(post(client, url(client, "token_create"), {"token_name": "b"}).text)
    assert doc.select_one("#token-snippet") is None
    assert one(doc, "#token-env").get_text().startswith("export EYEBALL_TOKEN='eyb_")


def test_tokens_are_shown_once_with_the_pandas_line_then_listed_and_revoked(
    client: TestClient, team: dict[str, Any]
) -> None:
    sign_in(client, "lead")
    empty = post(client, url(client, "token_create"), {"token_name": " "})
    assert empty.status_code == 422
    assert "name" in field_error(soup(empty.text), "f-token-name")
    created = post(client, url(client, "token_create"), {"token_name": "notebook"})
    doc = soup(created.text)
    secret = one(doc, "#token-secret").get_text()
    assert secret.startswith("eyb_")
    # The token goes into the environment; the snippet reads it from there and names
    # a real project of the user's that has a run (tests/test_notebooks.py runs both).
    assert one(doc, "#token-env").get_text() == f"export EYEBALL_TOKEN='{secret}'"
    snippet = one(doc, "#token-snippet").get_text()
    assert secret not in snippet
    assert 'TOKEN = os.environ["EYEBALL_TOKEN"]' in snippet
    assert 'pd.read_csv(url, storage_options={"Authorization": f"Bearer {TOKEN}"})' in snippet
    project = team["project"]
    export = url(client, "api_annotations_csv", project_id=project.id, run="latest")
    assert f'url = "http://testserver{export}"' in snippet
    assert doc.select_one("#tokens a[href='/docs']") is not None
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    page = client.get(url(client, "account"))
    assert secret not in page.text
    row = soup(page.text).select_one("#token-list tbody tr")
    assert row is not None
    assert next(td.get_text(strip=True) for td in row.select("td")) == "notebook"
    assert "never" not in row.get_text()  # it was just used
    revoke = soup(client.get(str(one(row, "a")["href"])).text)
    done = post(client, attr(one(revoke, "#confirm form"), "action"))
    assert flashes(client, done) == ["Token “notebook” revoked."]
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def test_an_admin_creates_a_user_who_must_choose_a_password(
    client: TestClient, session: Session
) -> None:
    make_user(session, "root", admin=True)
    sign_in(client, "root")
    bad = post(client, url(client, "user_create"), {"username": "N O", "display_name": "Nora"})
    assert bad.status_code == 422
    doc = soup(bad.text)
    assert value_of(doc, "f-display_name") == "Nora"
    assert field_error(doc, "f-username")
    created = post(client, url(client, "user_create"), {"username": "nora", "display_name": "Nora"})
    password = one(soup(created.text), "#otp").get_text()
    row = soup(created.text).select_one("#users tbody tr:-soup-contains('nora')")
    assert row is not None
    assert "one-time password" in row.get_text()
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})

    sign_in(client, "nora", password)
    forced = client.get("/")
    assert forced.status_code == 303
    assert forced.headers["location"] == url(client, "account")
    page = soup(client.get(forced.headers["location"]).text)
    assert page.select_one("#must-change") is not None
    assert page.select("#tokens") == []
    token = one(page, "#password input[name=csrftoken]")["value"]
    new = "nora's own secret"
    data = {"current_password": password, "new_password": new, "repeat_password": new}
    client.post(url(client, "account_password"), data={"csrftoken": str(token), **data})
    assert client.get("/").status_code == 200


def test_users_page_actions_and_access(
    client: TestClient, session: Session, team: dict[str, Any]
) -> None:
    root = make_user(session, "root", admin=True)
    sign_in(client, "lead")
    assert client.get(url(client, "users")).status_code == 403
    assert client.get(url(client, "site_settings")).status_code == 403
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "root")
    page = soup(client.get(url(client, "users")).text)
    lead_row = page.select_one(f"#user-{team['lead'].id}")
    assert lead_row is not None
    assert "Pets" in lead_row.get_text()
    last = post(client, url(client, "user_set_admin", user_id=root.id), {"admin": "0"})
    assert last.status_code == 409
    off = post(client, url(client, "user_set_active", user_id=team["ann"].id), {"active": "0"})
    assert off.status_code == 303
    reset = post(client, url(client, "user_reset", user_id=team["ann"].id))
    assert re.fullmatch(r"[\w-]{12}", one(soup(reset.text), "#otp").get_text())
    session.expire_all()
    ann = session.get(User, team["ann"].id)
    assert ann is not None
    assert not ann.is_active
    assert ann.must_change_password


def test_top_bar_links(client: TestClient, session: Session, team: dict[str, Any]) -> None:
    make_user(session, "root", admin=True)
    sign_in(client, "lead")
    links = [a.get_text(strip=True) for a in soup(client.get("/").text).select(".account a")]
    assert links == ["lead"]
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    sign_in(client, "root")
    links = [a.get_text(" ", strip=True) for a in soup(client.get("/").text).select(".account a")]
    assert links == ["Users", "Site settings", "root admin"]
    assert ProjectRole.LEAD.value == "lead"
