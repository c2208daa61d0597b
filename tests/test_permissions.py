"""Who may do what: a page, the API and the domain refuse in the same words.

Each rule is written once, in the domain, and the routes' dependencies ask it; these
tests hold every way in to the one message a person or a notebook reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.errors import PermissionDenied
from app.domain.projects.access import get_access
from app.domain.projects.settings import ProjectFields, delete_project, start_project
from app.models import SampleKind, utcnow
from tests.conftest import csrf_token, sign_in
from tests.factories import bearer, make_user
from tests.pages import one, soup
from tests.routes import named_paths, url
from tests.sheet_data import Fixture, build

LEADS_ONLY = "Only the project's leads can do this."
ADMINS_ONLY = "Only site admins can do this."
ADMINS_DELETE = "Only admins can delete a project; leads can archive it."
ARCHIVED = "The project is archived: it is read-only until a lead restores it."
STARTERS = "Only admins and project leads can create projects on this site; ask an admin."


@pytest.fixture
def f(session: Session) -> Fixture:
    return build(session)


def page_refusal(client: TestClient, method: str, path: str) -> str:
    data = {"csrftoken": csrf_token(client)} if method == "POST" else None
    response = client.request(method, path, data=data)
    assert response.status_code == 403, path
    return one(soup(response.text), "#error p").get_text()


def api_refusal(response: Any) -> str:
    assert response.status_code == 403
    detail: str = response.json()["detail"]
    return detail


def test_leads_only_pages_and_the_api_say_the_same(
    client: TestClient, session: Session, f: Fixture
) -> None:
    sign_in(client, "ann")
    pages = [
        ("GET", url(client, "project_settings", project_id=f.project.id)),
        ("POST", url(client, "project_restore", project_id=f.project.id)),
        ("GET", url(client, "dashboard", project_id=f.project.id, run="v1")),
        ("GET", url(client, "import_page", project_id=f.project.id)),
        ("GET", url(client, "cause_edit", project_id=f.project.id, cause_id=f.a.id)),
        ("GET", url(client, "run_edit", project_id=f.project.id, run_id=f.run.id)),
    ]
    for method, path in pages:
        assert page_refusal(client, method, path) == LEADS_ONLY
    # An empty PATCH changes nothing, and is still a lead's call.
    patch = client.patch(
        url(client, "api_update_project", project_id=f.project.id),
        json={},
        headers=bearer(session, f.ann),
    )
    assert api_refusal(patch) == LEADS_ONLY


def test_admin_pages_and_the_api_say_the_same(
    client: TestClient, session: Session, f: Fixture
) -> None:
    sign_in(client, "lead")
    for method, name in [
        ("GET", "users"),
        ("POST", "user_create"),
        ("GET", "site_settings"),
        ("POST", "site_settings_save"),
    ]:
        assert page_refusal(client, method, url(client, name)) == ADMINS_ONLY
    created = client.post(
        url(client, "api_create_user"),
        json={"username": "grace", "password": "a long enough password"},
        headers=bearer(session, f.lead),
    )
    assert api_refusal(created) == ADMINS_ONLY


def test_deleting_is_for_admins_on_the_page_in_the_api_and_in_the_domain(
    client: TestClient, session: Session, f: Fixture
) -> None:
    sign_in(client, "lead")
    for method, name in [("GET", "project_delete_confirm"), ("POST", "project_delete")]:
        path = url(client, name, project_id=f.project.id)
        assert page_refusal(client, method, path) == ADMINS_DELETE
    api = client.delete(
        url(client, "api_delete_project", project_id=f.project.id),
        headers=bearer(session, f.lead),
    )
    assert api_refusal(api) == ADMINS_DELETE
    with pytest.raises(PermissionDenied) as refused:
        delete_project(session, get_access(session, f.lead, f.project.id), "Pets")
    assert refused.value.message == ADMINS_DELETE


def test_pages_that_lead_to_a_change_are_closed_on_an_archived_project(
    client: TestClient, session: Session, f: Fixture
) -> None:
    f.project.archived_at = utcnow()
    session.flush()
    sign_in(client, "lead")
    project_id = f.project.id
    for name, params in [
        ("cause_edit", {"cause_id": f.a.id}),
        ("cause_delete_confirm", {"cause_id": f.a.id}),
        ("cause_merge_preview", {"cause_id": f.a.id}),
        ("run_edit", {"run_id": f.run.id}),
        ("team_remove_confirm", {"user_id": f.ann.id}),
        ("project_archive_confirm", {}),
        ("import_page", {}),
    ]:
        path = url(client, name, project_id=project_id, **params)
        assert page_refusal(client, "GET", path) == ARCHIVED
    # Reading, and restoring, stay open to the lead.
    assert client.get(url(client, "project_settings", project_id=project_id)).status_code == 200
    assert client.get(url(client, "causes", project_id=project_id)).status_code == 200


def test_who_may_start_projects_is_said_once(
    client: TestClient, session: Session, f: Fixture
) -> None:
    nora = make_user(session, "nora")
    sign_in(client, "nora")
    assert page_refusal(client, "GET", url(client, "project_new")) == STARTERS
    api = client.post(
        url(client, "api_create_project"),
        json={"name": "Cars", "kind": "image"},
        headers=bearer(session, nora),
    )
    assert api_refusal(api) == STARTERS
    with pytest.raises(PermissionDenied) as refused:
        start_project(session, nora, ProjectFields(name="Cars", kind=SampleKind.IMAGE))
    assert refused.value.message == STARTERS


# What an annotator may download: their own annotations, and files holding no one's
# annotations (the model's label suspects). Every other download carries everyone's marks.
ANNOTATOR_DOWNLOADS = {
    "api_annotations_csv",
    "api_annotations_jsonl",
    "api_annotations_json",
    "label_suspects_csv",
}


def download_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every file a run can be downloaded as, on the pages and in the API."""
    return sorted(
        (name, path)
        for name, path in named_paths(client)
        if "{run}" in path and path.endswith((".csv", ".xlsx", ".json", ".jsonl"))
    )


def _download(client: TestClient, session: Session, who: str, path: str) -> Any:
    if path.startswith("/api/"):
        return client.get(path, headers=bearer(session, who))
    client.cookies.clear()
    sign_in(client, who)
    return client.get(path)


def _refusal(response: Any, api: bool) -> str:
    assert response.status_code == 403
    return api_refusal(response) if api else one(soup(response.text), "#error p").get_text()


def test_annotators_download_their_own_work_and_leads_everything(
    client: TestClient, session: Session, f: Fixture
) -> None:
    routes = download_routes(client)
    names = {name for name, _ in routes}
    assert {"sheet_csv", "sheet_xlsx", "label_corrections", "api_spreadsheet_xlsx"} <= names
    assert names >= ANNOTATOR_DOWNLOADS
    for name, path in routes:
        target = path.format(project_id=f.project.id, run="v1")
        as_ann = _download(client, session, "ann", target)
        if name in ANNOTATOR_DOWNLOADS:
            assert as_ann.status_code == 200, name
            # bob marked e1, e2 and e5: nothing of his reaches ann.
            assert b"bob" not in as_ann.content, name
        else:
            assert _refusal(as_ann, target.startswith("/api/")) == LEADS_ONLY, name
        as_lead = _download(client, session, "lead", target)
        assert as_lead.status_code == 200, name
        if name.startswith("api_annotations"):
            assert b"bob" in as_lead.content, name  # a lead's export holds everyone's


def test_an_annotators_annotation_export_is_their_rows_only(
    client: TestClient, session: Session, f: Fixture
) -> None:
    headers = bearer(session, "ann")
    path = url(client, "api_annotations_json", project_id=f.project.id, run="v1")
    records = client.get(path, headers=headers).json()
    assert {r["annotator"] for r in records} == {"ann"}
    assert sorted(r["sample_id"] for r in records) == ["e1", "e2", "e3", "e4", "e5"]
    consensus = client.get(
        url(client, "api_annotations_csv", project_id=f.project.id, run="v1"),
        params={"consensus": "true"},
        headers=headers,
    )
    assert api_refusal(consensus) == LEADS_ONLY
