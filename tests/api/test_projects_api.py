"""Projects, teams and users over the API: what a notebook setting up its own work sees."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accounts.site import SiteSettings, update_site_settings
from app.domain.accounts.users import authenticate, create_token, revoke_token
from app.models import Membership, Project, User
from tests.factories import PASSWORD, bearer, make_project, make_user
from tests.routes import url


@dataclass
class Site:
    project: Project
    lead: User
    annotator: User
    other_lead: User  # leads another project only
    admin: User


@pytest.fixture
def site(session: Session) -> Site:
    lead, annotator, other_lead = (make_user(session, n) for n in ("lead", "ann", "olga"))
    admin = make_user(session, "root", admin=True)
    project = make_project(session, lead, annotators=[annotator], name="Pets", labels=["cat"])
    make_project(session, other_lead, name="Cars")
    return Site(project, lead, annotator, other_lead, admin)


def revoked(session: Session, user: User) -> dict[str, str]:
    issued = create_token(session, user, "old")
    revoke_token(session, user, issued.token.id)
    return {"Authorization": f"Bearer {issued.secret}"}


# --- projects ---------------------------------------------------------------------------


def test_a_member_lists_only_their_projects_and_an_admin_all(
    client: TestClient, session: Session, site: Site
) -> None:
    path = url(client, "api_projects")
    mine = client.get(path, headers=bearer(session, site.annotator)).json()
    assert [(p["name"], p["role"]) for p in mine] == [("Pets", "annotator")]
    every = client.get(path, headers=bearer(session, site.admin)).json()
    assert [(p["name"], p["role"]) for p in every] == [("Cars", None), ("Pets", None)]


def test_archived_projects_are_listed_on_request(
    client: TestClient, session: Session, site: Site
) -> None:
    headers = bearer(session, site.lead)
    patched = client.patch(
        url(client, "api_update_project", project_id=site.project.id),
        json={"archived": True},
        headers=headers,
    )
    assert patched.json()["archived"] is True
    assert client.get(url(client, "api_projects"), headers=headers).json() == []
    listed = client.get(url(client, "api_projects"), params={"archived": "true"}, headers=headers)
    assert [p["name"] for p in listed.json()] == ["Pets"]


@pytest.mark.parametrize("headers", ["none", "revoked", "garbage"])
def test_without_a_valid_token_the_api_answers_401_json(
    client: TestClient, session: Session, site: Site, headers: str
) -> None:
    sent = {
        "none": {},
        "revoked": revoked(session, site.lead),
        "garbage": {"Authorization": "Bearer not-a-token"},
    }[headers]
    for method, path in [
        ("GET", url(client, "api_projects")),
        ("POST", url(client, "api_projects")),
        ("GET", url(client, "api_project", project_id=site.project.id)),
        ("GET", url(client, "api_members", project_id=site.project.id)),
        ("POST", url(client, "api_create_user")),
    ]:
        response = client.request(method, path, headers=sent, json={}, follow_redirects=False)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["detail"]


def test_a_lead_starts_a_project_and_leads_it(
    client: TestClient, session: Session, site: Site
) -> None:
    body = {"name": " Birds  ", "kind": "text", "labels": ["crow", "jay", "crow"], "overlap": 2}
    response = client.post(url(client, "api_projects"), json=body, headers=bearer(session, "lead"))
    assert response.status_code == 201
    created = response.json()
    assert (created["name"], created["kind"], created["labels"], created["overlap"]) == (
        "Birds",
        "text",
        ["crow", "jay"],
        2,
    )
    assert created["role"] == "lead"
    got = client.get(
        url(client, "api_project", project_id=created["id"]), headers=bearer(session, "lead")
    )
    assert got.json() == created


def test_starting_projects_follows_the_site_rule(
    client: TestClient, session: Session, site: Site
) -> None:
    newcomer = make_user(session, "newcomer")
    body = {"name": "Mine", "kind": "image"}
    refused = client.post(url(client, "api_projects"), json=body, headers=bearer(session, newcomer))
    assert refused.status_code == 403
    update_site_settings(session, site.admin, SiteSettings(members_may_create_projects=True))
    allowed = client.post(url(client, "api_projects"), json=body, headers=bearer(session, newcomer))
    assert allowed.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "pets", "kind": "image"}, 409, "already exists"),
        ({"name": "  ", "kind": "image"}, 422, "Give the project a name"),
        ({"name": "X", "kind": "video"}, 422, "kind"),
        ({"name": "X", "kind": "image", "overlap": 0}, 422, "Between 1 and 20"),
        ({"name": "X"}, 422, "kind"),
        ({"name": "X", "kind": "image", "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_projects_are_refused_with_a_message(
    client: TestClient,
    session: Session,
    site: Site,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    response = client.post(url(client, "api_projects"), json=body, headers=bearer(session, "lead"))
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_a_body_that_is_not_json_is_a_422_not_a_500(
    client: TestClient, session: Session, site: Site
) -> None:
    response = client.post(
        url(client, "api_projects"),
        content=b"{nope",
        headers={**bearer(session, "lead"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_strangers_get_404_so_ids_do_not_leak(
    client: TestClient, session: Session, site: Site
) -> None:
    headers = bearer(session, site.other_lead)
    project = site.project.id
    assert (
        client.get(url(client, "api_project", project_id=project), headers=headers).status_code
        == 404
    )
    missing = client.get(url(client, "api_project", project_id=987654), headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No such project."}
    for method, path in [
        ("PATCH", url(client, "api_update_project", project_id=project)),
        ("DELETE", url(client, "api_delete_project", project_id=project)),
        ("GET", url(client, "api_members", project_id=project)),
        ("PUT", url(client, "api_set_member", project_id=project, username="olga")),
        ("DELETE", url(client, "api_remove_member", project_id=project, username="ann")),
    ]:
        response = client.request(method, path, headers=headers, json={"role": "lead"})
        assert response.status_code == 404, (method, path)


def test_a_lead_changes_settings_and_an_annotator_cannot(
    client: TestClient, session: Session, site: Site
) -> None:
    path = url(client, "api_update_project", project_id=site.project.id)
    refused = client.patch(path, json={"overlap": 2}, headers=bearer(session, site.annotator))
    assert refused.status_code == 403
    assert "leads" in refused.json()["detail"]
    assert client.patch(path, json={}, headers=bearer(session, site.annotator)).status_code == 403
    changed = client.patch(
        path, json={"overlap": 2, "description": "night shots"}, headers=bearer(session, "lead")
    )
    assert changed.status_code == 200
    assert (changed.json()["overlap"], changed.json()["description"]) == (2, "night shots")
    assert changed.json()["name"] == "Pets"  # untouched fields stay
    by_admin = client.patch(path, json={"name": "Pets v2"}, headers=bearer(session, site.admin))
    assert by_admin.json()["name"] == "Pets v2"
    # No samples yet: the kind may still change; null means "leave as it is".
    rekinded = client.patch(
        path, json={"kind": "text", "overlap": None}, headers=bearer(session, "lead")
    )
    assert (rekinded.json()["kind"], rekinded.json()["overlap"]) == ("text", 2)


def test_an_archived_project_is_read_only_until_restored(
    client: TestClient, session: Session, site: Site
) -> None:
    path = url(client, "api_update_project", project_id=site.project.id)
    headers = bearer(session, "lead")
    client.patch(path, json={"archived": True}, headers=headers)
    refused = client.patch(path, json={"overlap": 3}, headers=headers)
    assert refused.status_code == 403
    assert "archived" in refused.json()["detail"]
    restored = client.patch(path, json={"archived": False, "overlap": 3}, headers=headers)
    assert (restored.json()["archived"], restored.json()["overlap"]) == (False, 3)


def test_only_admins_delete_projects(client: TestClient, session: Session, site: Site) -> None:
    path = url(client, "api_delete_project", project_id=site.project.id)
    refused = client.delete(path, headers=bearer(session, "lead"))
    assert refused.status_code == 403
    assert "archive" in refused.json()["detail"]
    assert client.delete(path, headers=bearer(session, site.admin)).status_code == 204
    assert session.scalar(select(Project.id).where(Project.id == site.project.id)) is None
    again = client.get(
        url(client, "api_project", project_id=site.project.id), headers=bearer(session, site.admin)
    )
    assert again.status_code == 404


def test_cookies_do_not_authorise_writes(client: TestClient, session: Session, site: Site) -> None:
    from tests.conftest import sign_in

    sign_in(client, "lead")
    read = client.get(url(client, "api_project", project_id=site.project.id))
    assert read.status_code == 200
    write = client.patch(
        url(client, "api_update_project", project_id=site.project.id), json={"overlap": 2}
    )
    assert write.status_code == 401


# --- the team ---------------------------------------------------------------------------


def test_a_lead_builds_the_team(client: TestClient, session: Session, site: Site) -> None:
    make_user(session, "grace", display_name="Grace H.")
    headers = bearer(session, "lead")
    put = url(client, "api_set_member", project_id=site.project.id, username="grace")
    added = client.put(put, json={"role": "annotator"}, headers=headers)
    assert added.status_code == 201
    assert added.json() == {"username": "grace", "display_name": "Grace H.", "role": "annotator"}
    promoted = client.put(put, json={"role": "lead"}, headers=headers)
    assert (promoted.status_code, promoted.json()["role"]) == (200, "lead")
    unchanged = client.put(put, json={"role": "lead"}, headers=headers)
    assert unchanged.status_code == 200
    team = client.get(url(client, "api_members", project_id=site.project.id), headers=headers)
    assert [(m["username"], m["role"]) for m in team.json()] == [
        ("grace", "lead"),
        ("lead", "lead"),
        ("ann", "annotator"),
    ]
    gone = client.delete(
        url(client, "api_remove_member", project_id=site.project.id, username="ann"),
        headers=headers,
    )
    assert gone.status_code == 204
    membership = session.scalar(
        select(Membership).where(
            Membership.project_id == site.project.id, Membership.user_id == site.annotator.id
        )
    )
    assert membership is not None  # kept, so their annotations stay attributed
    assert not membership.is_active
    assert (
        client.get(
            url(client, "api_project", project_id=site.project.id), headers=bearer(session, "ann")
        ).status_code
        == 404
    )


def test_the_team_keeps_a_lead_and_refuses_bad_input(
    client: TestClient, session: Session, site: Site
) -> None:
    headers = bearer(session, "lead")
    project = site.project.id
    step_down = client.put(
        url(client, "api_set_member", project_id=project, username="lead"),
        json={"role": "annotator"},
        headers=headers,
    )
    assert step_down.status_code == 409
    assert "only lead" in step_down.json()["detail"]
    leave = client.delete(
        url(client, "api_remove_member", project_id=project, username="lead"), headers=headers
    )
    assert leave.status_code == 409
    nobody = client.put(
        url(client, "api_set_member", project_id=project, username="nobody"),
        json={"role": "annotator"},
        headers=headers,
    )
    assert nobody.status_code == 404
    assert "nobody" in nobody.json()["detail"]
    bad_role = client.put(
        url(client, "api_set_member", project_id=project, username="olga"),
        json={"role": "owner"},
        headers=headers,
    )
    assert bad_role.status_code == 422
    not_member = client.delete(
        url(client, "api_remove_member", project_id=project, username="olga"), headers=headers
    )
    assert not_member.status_code == 404


def test_annotators_cannot_change_the_team(
    client: TestClient, session: Session, site: Site
) -> None:
    headers = bearer(session, "ann")
    project = site.project.id
    assert (
        client.get(url(client, "api_members", project_id=project), headers=headers).status_code
        == 200
    )
    put = client.put(
        url(client, "api_set_member", project_id=project, username="olga"),
        json={"role": "annotator"},
        headers=headers,
    )
    assert put.status_code == 403
    delete = client.delete(
        url(client, "api_remove_member", project_id=project, username="lead"), headers=headers
    )
    assert delete.status_code == 403
    by_admin = client.put(
        url(client, "api_set_member", project_id=project, username="olga"),
        json={"role": "annotator"},
        headers=bearer(session, site.admin),
    )
    assert by_admin.status_code == 201


# --- users ------------------------------------------------------------------------------


def test_admins_create_users_who_can_sign_in(
    client: TestClient, session: Session, site: Site
) -> None:
    path = url(client, "api_create_user")
    body = {"username": "Pipeline", "password": PASSWORD, "admin": False}
    refused = client.post(path, json=body, headers=bearer(session, "lead"))
    assert refused.status_code == 403
    created = client.post(path, json=body, headers=bearer(session, site.admin))
    assert created.status_code == 201
    assert created.json() == {"username": "pipeline", "display_name": "", "admin": False}
    user = authenticate(session, "pipeline", PASSWORD)
    assert user is not None
    assert not user.must_change_password
    taken = client.post(path, json=body, headers=bearer(session, site.admin))
    assert taken.status_code == 409
    weak = client.post(
        path, json={"username": "x2", "password": "a"}, headers=bearer(session, site.admin)
    )
    assert weak.status_code == 422
    bad_name = client.post(
        path, json={"username": "a b", "password": PASSWORD}, headers=bearer(session, site.admin)
    )
    assert bad_name.status_code == 422
    assert "username" in bad_name.json()["detail"]


def test_an_admin_created_by_the_api_is_an_admin(
    client: TestClient, session: Session, site: Site
) -> None:
    body = {"username": "second", "password": PASSWORD, "admin": True}
    client.post(url(client, "api_create_user"), json=body, headers=bearer(session, site.admin))
    second = session.scalar(select(User).where(User.username == "second"))
    assert second is not None
    assert second.is_admin
