"""Causes and runs over the API: a notebook sets up the sheet's columns and its runs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token, revoke_token
from app.domain.review.annotations import state_of
from app.models import Annotation, AnnotationEvent, Cause
from tests.factories import bearer, make_project, make_user
from tests.routes import url
from tests.sheet_data import Fixture, build


@pytest.fixture
def f(session: Session) -> Fixture:
    fixture = build(session)
    make_user(session, "root", admin=True)
    make_project(session, make_user(session, "olga"), name="Cars")
    return fixture


def causes(
    client: TestClient, session: Session, f: Fixture, who: str = "lead"
) -> dict[str, dict[str, object]]:
    # A lead's list: under blind review an annotator's `uses` count only what they may see.
    listed = client.get(
        url(client, "api_causes", project_id=f.project.id), headers=bearer(session, who)
    )
    assert listed.status_code == 200
    return {c["name"]: c for c in listed.json()}


# --- causes -----------------------------------------------------------------------------


def test_members_list_the_causes_with_how_often_each_is_used(
    client: TestClient, session: Session, f: Fixture
) -> None:
    listed = causes(client, session, f, "ann")
    assert list(listed) == ["blurry", "dark", "tiny"]
    assert listed["blurry"]["group"] == "Causes"
    assert listed["blurry"]["archived"] is False
    # Her own marks (blind review): blurry on e1, e2, e4 and e5, dark on e2 and e3.
    assert [c["uses"] for c in listed.values()] == [4, 2, 0]
    everyone = causes(client, session, f)
    assert all(isinstance(c["uses"], int) and c["uses"] > 0 for c in everyone.values())


def test_a_lead_adds_a_cause_in_a_new_group(
    client: TestClient, session: Session, f: Fixture
) -> None:
    path = url(client, "api_create_cause", project_id=f.project.id)
    body = {"name": "Occluded", "description": "Something covers it", "group": "Scene", "key": "o"}
    created = client.post(path, json=body, headers=bearer(session, "lead"))
    assert created.status_code == 201
    assert {k: created.json()[k] for k in ("name", "group", "key", "uses")} == {
        "name": "Occluded",
        "group": "Scene",
        "key": "o",
        "uses": 0,
    }
    auto = client.post(
        path, json={"name": "Glare", "group": "scene"}, headers=bearer(session, "lead")
    )
    assert auto.json()["group"] == "Scene"  # the existing group, whatever the case
    assert str(auto.json()["key"]).isdigit()
    keyless = client.post(
        path, json={"name": "Rotated", "key": None}, headers=bearer(session, "lead")
    )
    assert keyless.json()["key"] is None
    listed = causes(client, session, f)
    assert [name for name, c in listed.items() if c["group"] == "Scene"] == ["Occluded", "Glare"]
    assert listed["Rotated"]["group"] == "Causes"  # no group named: the first one


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": " BLURRY "}, 409, "blurry"),
        ({"name": "blury"}, 409, "blurry"),
        ({"name": ""}, 422, "Give the cause a name"),
        ({"name": "Sharp", "key": "l"}, 422, "key"),
        ({"name": "Sharp", "key": "ab"}, 422, "key"),
        ({}, 422, "name"),
    ],
)
def test_bad_causes_are_refused(
    client: TestClient,
    session: Session,
    f: Fixture,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    path = url(client, "api_create_cause", project_id=f.project.id)
    response = client.post(path, json=body, headers=bearer(session, "lead"))
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_a_similar_name_is_allowed_when_insisted(
    client: TestClient, session: Session, f: Fixture
) -> None:
    path = url(client, "api_create_cause", project_id=f.project.id)
    body = {"name": "blury", "allow_similar": True}
    assert client.post(path, json=body, headers=bearer(session, "lead")).status_code == 201


def test_annotators_add_causes_only_where_the_project_allows(
    client: TestClient, session: Session, f: Fixture
) -> None:
    path = url(client, "api_create_cause", project_id=f.project.id)
    refused = client.post(path, json={"name": "Fog"}, headers=bearer(session, "ann"))
    assert refused.status_code == 403
    f.project.annotators_may_add_causes = True
    session.flush()
    assert (
        client.post(path, json={"name": "Fog"}, headers=bearer(session, "ann")).status_code == 201
    )


def test_a_lead_renames_rekeys_moves_and_archives_a_cause(
    client: TestClient, session: Session, f: Fixture
) -> None:
    path = url(client, "api_update_cause", project_id=f.project.id, cause_id=f.a.id)
    headers = bearer(session, "lead")
    renamed = client.patch(path, json={"name": "Motion blur", "group": "Image"}, headers=headers)
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["group"]) == ("Motion blur", "Image")
    assert renamed.json()["description"] == f.a.description  # untouched
    rekeyed = client.patch(path, json={"key": "m"}, headers=headers)
    assert rekeyed.json()["key"] == "m"
    unkeyed = client.patch(path, json={"key": ""}, headers=headers)
    assert unkeyed.json()["key"] is None
    archived = client.patch(path, json={"archived": True}, headers=headers)
    assert archived.json()["archived"] is True
    assert causes(client, session, f)["Motion blur"]["archived"] is True
    back = client.patch(path, json={"archived": False}, headers=headers)
    assert back.json()["archived"] is False


def test_a_lead_reorders_causes_as_the_review_screen_shows_them(
    client: TestClient, session: Session, f: Fixture
) -> None:
    headers = bearer(session, "lead")
    moved = client.patch(
        url(client, "api_update_cause", project_id=f.project.id, cause_id=f.c.id),
        json={"position": 0},
        headers=headers,
    )
    assert moved.status_code == 200
    assert list(causes(client, session, f)) == ["tiny", "blurry", "dark"]
    client.patch(
        url(client, "api_update_cause", project_id=f.project.id, cause_id=f.c.id),
        json={"position": 99},  # past the end: the end
        headers=headers,
    )
    assert list(causes(client, session, f)) == ["blurry", "dark", "tiny"]
    negative = client.patch(
        url(client, "api_update_cause", project_id=f.project.id, cause_id=f.c.id),
        json={"position": -1},
        headers=headers,
    )
    assert negative.status_code == 422


def test_annotators_and_strangers_cannot_change_causes(
    client: TestClient, session: Session, f: Fixture
) -> None:
    patch = url(client, "api_update_cause", project_id=f.project.id, cause_id=f.a.id)
    merge = url(client, "api_merge_cause", project_id=f.project.id, cause_id=f.a.id)
    for user, status in (("ann", 403), ("olga", 404)):
        headers = bearer(session, user)
        assert client.patch(patch, json={"name": "x"}, headers=headers).status_code == status
        assert client.patch(patch, json={}, headers=headers).status_code == status
        assert client.patch(patch, json={"position": 0}, headers=headers).status_code == status
        assert client.post(merge, json={"into": f.b.id}, headers=headers).status_code == status
    assert (
        client.get(
            url(client, "api_causes", project_id=f.project.id), headers=bearer(session, "olga")
        ).status_code
        == 404
    )
    by_admin = client.patch(patch, json={"description": "x"}, headers=bearer(session, "root"))
    assert by_admin.status_code == 200


def test_a_cause_of_another_project_is_not_found(
    client: TestClient, session: Session, f: Fixture
) -> None:
    other = make_project(session, make_user(session), name="Other")
    stray = session.scalar(select(Cause).where(Cause.project_id == other.id))
    stray_id = stray.id if stray is not None else 987654
    path = url(client, "api_update_cause", project_id=f.project.id, cause_id=stray_id)
    response = client.patch(path, json={"name": "x"}, headers=bearer(session, "lead"))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such cause in this project."}


def test_merging_moves_every_annotation_as_events(
    client: TestClient, session: Session, f: Fixture
) -> None:
    before = causes(client, session, f)
    events_before = session.scalar(
        select(AnnotationEvent.id).order_by(AnnotationEvent.id.desc()).limit(1)
    )
    path = url(client, "api_merge_cause", project_id=f.project.id, cause_id=f.b.id)
    merged = client.post(path, json={"into": f.a.id}, headers=bearer(session, "lead"))
    assert merged.status_code == 200
    body = merged.json()
    assert (body["merged"], body["into"]) == (f.b.id, f.a.id)
    assert body["annotations"] == before["dark"]["uses"]
    after = causes(client, session, f)
    assert after["dark"]["archived"] is True
    assert after["dark"]["uses"] == 0
    new_events = session.scalars(
        select(AnnotationEvent).where(AnnotationEvent.id > (events_before or 0))
    ).all()
    assert len(new_events) == body["annotations"]
    assert {e.action for e in new_events} == {"merge"}
    for event in new_events:
        annotation = session.get(Annotation, event.annotation_id)
        assert annotation is not None
        assert f.a.id in state_of(session, annotation).cause_ids


@pytest.mark.parametrize(("into", "status"), [("self", 422), ("missing", 404), ("text", 422)])
def test_bad_merges_are_refused(
    client: TestClient, session: Session, f: Fixture, into: str, status: int
) -> None:
    target: object = {"self": f.a.id, "missing": 987654, "text": "dark"}[into]
    path = url(client, "api_merge_cause", project_id=f.project.id, cause_id=f.a.id)
    response = client.post(path, json={"into": target}, headers=bearer(session, "lead"))
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str)


# --- runs -------------------------------------------------------------------------------


def test_members_list_runs_with_their_progress(
    client: TestClient, session: Session, f: Fixture
) -> None:
    listed = client.get(
        url(client, "api_runs", project_id=f.project.id), headers=bearer(session, "ann")
    )
    assert listed.status_code == 200
    (v1,) = listed.json()
    assert (v1["name"], v1["evaluated"], v1["errors"], v1["in_review"]) == ("v1", 60, 6, 6)
    assert v1["error_rate"] == pytest.approx(0.1)
    assert v1["done"] == 4  # examined: e1 to e3 by two annotators, e5 adjudicated


def test_a_lead_registers_a_run_that_becomes_latest(
    client: TestClient, session: Session, f: Fixture
) -> None:
    body = {
        "name": "v2",
        "evaluated": 1000,
        "metrics": {"human_error": 0.01, "blackbox_error": 0.09},
    }
    created = client.post(
        url(client, "api_create_run", project_id=f.project.id),
        json=body,
        headers=bearer(session, "lead"),
    )
    assert created.status_code == 201
    run = created.json()
    assert (run["name"], run["evaluated"], run["errors"], run["error_rate"]) == ("v2", 1000, 0, 0.0)
    assert run["metrics"]["human_error"] == 0.01
    assert run["metrics"]["training_error"] is None
    names = [
        r["name"]
        for r in client.get(
            url(client, "api_runs", project_id=f.project.id), headers=bearer(session, "lead")
        ).json()
    ]
    assert names == ["v2", "v1"]
    tally = client.get(
        url(client, "api_tally", project_id=f.project.id, run="latest"),
        headers=bearer(session, "lead"),
    )
    assert tally.json()["run"] == "v2"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "v1"}, 409, "already called"),
        ({"name": " "}, 422, "Give the run a name"),
        ({"name": "v9", "evaluated": -1}, 422, "negative"),
        ({"name": "v9", "metrics": {"accuracy": 0.9}}, 422, "Unknown metrics: accuracy"),
        ({"name": "v9", "metrics": {"human_error": 2.5}}, 422, "fraction"),
        ({"name": "v9", "evaluated": "many"}, 422, "evaluated"),
    ],
)
def test_bad_runs_are_refused(
    client: TestClient,
    session: Session,
    f: Fixture,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    response = client.post(
        url(client, "api_create_run", project_id=f.project.id),
        json=body,
        headers=bearer(session, "lead"),
    )
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_only_leads_register_runs(client: TestClient, session: Session, f: Fixture) -> None:
    path = url(client, "api_create_run", project_id=f.project.id)
    issued = create_token(session, f.lead, "old")
    revoke_token(session, f.lead, issued.token.id)
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Bearer {issued.secret}"}, 401),
        (bearer(session, "ann"), 403),
        (bearer(session, "olga"), 404),
        (bearer(session, "root"), 201),
    ):
        response = client.post(path, json={"name": f"r{status}"}, headers=headers)
        assert response.status_code == status
    assert (
        client.get(
            url(client, "api_runs", project_id=f.project.id), headers=bearer(session, "olga")
        ).status_code
        == 404
    )
