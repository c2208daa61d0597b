"""The run's errors page by page, and writing one's own annotation through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.accounts.users import create_token, revoke_token
from app.domain.projects.access import get_access
from app.domain.projects.settings import archive_project
from app.domain.review.annotations import find_annotation, state_of
from app.models import AnnotationKind, SampleKind
from tests.conftest import sign_in
from tests.factories import (
    bearer,
    make_image,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.media_stores import store_of
from tests.routes import url
from tests.sheet_data import Fixture, build


def errors_url(client: TestClient, f: Fixture, run: str = "v1") -> str:
    return url(client, "api_run_errors", project_id=f.project.id, run=run)


def annotation_url(client: TestClient, f: Fixture, sample_id: str, run: str = "v1") -> str:
    return url(client, "api_annotate_error", project_id=f.project.id, run=run, sample_id=sample_id)


# --- GET .../errors -----------------------------------------------------------------


def test_the_errors_come_with_their_consensus_and_every_annotation(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    # A lead sees everyone's (blind review holds some back from an annotator: see
    # tests/domain/test_visibility.py).
    response = client.get(errors_url(client, f, "latest"), headers=bearer(session, "lead"))
    assert response.status_code == 200
    body = response.json()
    assert (body["run"], body["matching"], body["next_cursor"]) == ("v1", 6, None)
    errors = {e["sample_id"]: e for e in body["errors"]}
    assert [e["sample_id"] for e in body["errors"]] == ["e1", "e2", "e3", "e4", "e5", "e6"]

    e1 = errors["e1"]
    assert (e1["label"], e1["prediction"], e1["confidence"]) == ("cat", "dog", 0.1)
    assert e1["metadata"] == {"time": "night"}
    assert (e1["status"], e1["examined"], e1["causes"]) == ("done", True, ["blurry"])
    assert [(a["annotator"], a["kind"], a["causes"]) for a in e1["annotations"]] == [
        ("ann", "review", ["blurry"]),
        ("bob", "review", ["blurry"]),
    ]
    assert e1["annotations"][0]["version"] == 1
    assert e1["annotations"][0]["updated_at"].endswith("Z")

    # A tie goes to the lead; a disagreement is flagged.
    assert (errors["e3"]["causes"], errors["e3"]["disagreement"]) == (["tiny"], True)
    # Partial: one of two annotators finished; no consensus yet, the vote is still shown.
    e4 = errors["e4"]
    assert (e4["status"], e4["examined"], e4["causes"], e4["label_error"]) == (
        "partial",
        False,
        [],
        False,
    )
    assert e4["annotations"][0]["label_error"] is True
    # The lead's adjudication settles e5 and is listed with its kind.
    e5 = errors["e5"]
    assert (e5["status"], e5["causes"], e5["label_error"], e5["suggested_label"]) == (
        "adjudicated",
        ["tiny"],
        True,
        "fox",
    )
    assert [(a["annotator"], a["kind"]) for a in e5["annotations"]][-1] == ("lead", "adjudication")
    assert (errors["e6"]["status"], errors["e6"]["annotations"]) == ("queued", [])


def test_pages_follow_the_cursor_to_the_end_without_repeats(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    headers = bearer(session, "bob")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "4"} | ({"cursor": cursor} if cursor else {})
        body = client.get(errors_url(client, f), params=params, headers=headers).json()
        pages += 1
        assert body["matching"] == 6
        seen += [e["sample_id"] for e in body["errors"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == ["e1", "e2", "e3", "e4", "e5", "e6"]


def test_the_cursor_is_a_position_so_a_change_between_pages_skips_nothing(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    headers = bearer(session, "ann")
    first = client.get(
        errors_url(client, f), params={"limit": "2", "status": "done"}, headers=headers
    ).json()
    assert [e["sample_id"] for e in first["errors"]] == ["e1", "e2"]
    # e1 leaves the filtered set between the two calls; an offset would now skip e3.
    session.delete(find_annotation(session, f.errors["e1"].id, f.bob.id))
    session.flush()
    second = client.get(
        errors_url(client, f),
        params={"limit": "2", "status": "done", "cursor": first["next_cursor"]},
        headers=headers,
    ).json()
    assert [e["sample_id"] for e in second["errors"]] == ["e3"]
    assert second["next_cursor"] is None


def test_the_sheets_filters_apply(client: TestClient, session: Session) -> None:
    f = build(session)
    headers = bearer(session, "lead")
    night = client.get(errors_url(client, f), params={"meta": "time=night"}, headers=headers).json()
    assert [e["sample_id"] for e in night["errors"]] == ["e1", "e3", "e5"]
    tiny = client.get(
        errors_url(client, f),
        params=[("cause", str(f.c.id)), ("label_error", "1")],
        headers=headers,
    ).json()
    assert [e["sample_id"] for e in tiny["errors"]] == ["e5"]
    by_bob = client.get(
        errors_url(client, f), params={"annotator": str(f.bob.id), "limit": "1"}, headers=headers
    ).json()
    assert (by_bob["matching"], len(by_bob["errors"])) == (3, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cursor": "not-a-cursor"}, "cursor was not given out"),
        ({"cursor": "WzEsMiwzXQ"}, "cursor was not given out"),  # base64 of [1,2,3]
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "nope"}, "Status must be one of"),
        ({"cause": "fuzzy"}, "no cause named 'fuzzy'"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(
    client: TestClient, session: Session, params: dict[str, str], message: str
) -> None:
    f = build(session)
    response = client.get(errors_url(client, f), params=params, headers=bearer(session, "ann"))
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_a_cursor_of_another_run_is_refused(client: TestClient, session: Session) -> None:
    f = build(session)
    headers = bearer(session, "ann")
    cursor = client.get(errors_url(client, f), params={"limit": "1"}, headers=headers).json()[
        "next_cursor"
    ]
    make_run(session, f.project, name="v2")
    response = client.get(
        errors_url(client, f, "latest"), params={"cursor": cursor}, headers=headers
    )
    assert response.status_code == 422
    assert "another run than 'v2'" in response.json()["detail"]


def test_who_may_read_the_errors(client: TestClient, session: Session) -> None:
    f = build(session)
    path = errors_url(client, f)
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer eyb_nope"}).status_code == 401
    issued = create_token(session, f.ann, "old notebook")
    revoke_token(session, f.ann, issued.token.id)
    revoked = client.get(path, headers={"Authorization": f"Bearer {issued.secret}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]

    other_lead = make_user(session, "olga")
    make_project(session, other_lead, name="Other")
    stranger = client.get(path, headers=bearer(session, other_lead))
    assert (stranger.status_code, stranger.json()) == (404, {"detail": "No such project."})

    admin = make_user(session, "root", admin=True)
    assert client.get(path, headers=bearer(session, admin)).status_code == 200
    assert client.get(errors_url(client, f, "v9"), headers=bearer(session, "ann")).json() == {
        "detail": "The project has no run named 'v9'."
    }
    # A signed-in browser may read too.
    sign_in(client, "bob")
    assert client.get(path).status_code == 200


# --- PUT .../errors/{sample_id}/annotation --------------------------------------------


def test_an_annotator_writes_their_own_annotation_with_cause_names(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    headers = bearer(session, "ann")
    body = {
        "causes": ["DARK", "blurry"],
        "label_error": False,
        "suggested_label": None,
        "note": "two things at once",
        "status": "done",
        "version": 0,
    }
    response = client.put(annotation_url(client, f, "e6"), json=body, headers=headers)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["causes"] == ["blurry", "dark"]  # the project's names, in its order
    assert (saved["annotator"], saved["status"], saved["version"], saved["changed"]) == (
        "ann",
        "done",
        1,
        True,
    )
    assert (saved["run"], saved["sample_id"], saved["note"]) == ("v1", "e6", "two things at once")

    listed = client.get(errors_url(client, f), headers=headers).json()["errors"]
    e6 = next(e for e in listed if e["sample_id"] == "e6")
    assert e6["status"] == "partial"
    assert [(a["annotator"], a["causes"], a["version"]) for a in e6["annotations"]] == [
        ("ann", ["blurry", "dark"], 1)
    ]

    # Based on the version just returned: accepted, and the version moves on.
    again = client.put(
        annotation_url(client, f, "e6", run="latest"),
        json=body | {"causes": ["tiny"], "version": 1},
        headers=headers,
    )
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["causes"]) == (2, ["tiny"])
    # The same state again writes nothing.
    same = client.put(
        annotation_url(client, f, "e6"),
        json=body | {"causes": ["tiny"], "version": 2},
        headers=headers,
    )
    assert (same.json()["version"], same.json()["changed"]) == (2, False)


def test_a_stale_version_is_refused_with_the_current_state(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    headers = bearer(session, "ann")
    # ann's annotation of e1 is at version 1 (blurry); a notebook still thinks it is new.
    response = client.put(
        annotation_url(client, f, "e1"), json={"causes": ["dark"], "version": 0}, headers=headers
    )
    assert response.status_code == 409
    body = response.json()
    assert "changed elsewhere" in body["detail"]
    assert body["version"] == 1
    assert body["current"] == {
        "causes": ["blurry"],
        "label_error": False,
        "suggested_label": None,
        "note": "",
        "status": "done",
        "skip_reason": "",
    }
    stored = state_of(session, find_annotation(session, f.errors["e1"].id, f.ann.id))
    assert stored.cause_ids == (f.a.id,)


def test_the_put_never_touches_another_persons_annotation(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    response = client.put(
        annotation_url(client, f, "e1"),
        json={"causes": ["tiny"], "version": 1},
        headers=bearer(session, "ann"),
    )
    assert response.status_code == 200
    assert response.json()["annotator"] == "ann"
    bobs = find_annotation(session, f.errors["e1"].id, f.bob.id)
    assert bobs is not None
    session.refresh(bobs)
    assert (state_of(session, bobs).cause_ids, bobs.version) == ((f.a.id,), 1)
    # The lead's adjudication of e5 stays as it was when the lead writes a review of it.
    lead = client.put(
        annotation_url(client, f, "e5"),
        json={"causes": ["blurry"], "version": 0},
        headers=bearer(session, "lead"),
    )
    assert lead.status_code == 200
    adjudication = find_annotation(
        session, f.errors["e5"].id, f.lead.id, AnnotationKind.ADJUDICATION
    )
    assert adjudication is not None
    assert state_of(session, adjudication).cause_ids == (f.c.id,)


@pytest.mark.parametrize(
    ("sample_id", "body", "status", "message"),
    [
        ("e6", {"causes": ["blury"], "version": 0}, 422, "no cause named 'blury'"),
        ("e6", {"causes": ["blurry", "fuzzy", "dim"], "version": 0}, 422, "'fuzzy', 'dim'"),
        # Without a version a PUT writes (see below); a version no column holds is refused.
        ("e6", {"causes": [], "version": 2**31}, 422, "version"),
        ("e6", {"version": -1}, 422, "version"),
        ("e6", {"status": "finished", "version": 0}, 422, "status"),
        ("e6", {"version": 0, "colour": "red"}, 422, "colour"),
        ("e6", {"label_error": True, "suggested_label": "cat", "version": 0}, 422, "current label"),
        ("e6", {"note": "a\x00b", "version": 0}, 422, "note"),
        ("e6", {"label_error": True, "suggested_label": "x" * 256, "version": 0}, 422, "255"),
        ("nope", {"version": 0}, 404, "no error under review with sample id 'nope'"),
        ("ok", {"version": 0}, 404, "no error under review with sample id 'ok'"),
    ],
)
def test_bad_annotations_are_refused_with_a_reason(
    client: TestClient,
    session: Session,
    sample_id: str,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    f = build(session)
    response = client.put(
        annotation_url(client, f, sample_id), json=body, headers=bearer(session, "ann")
    )
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert find_annotation(session, f.errors["e6"].id, f.ann.id) is None


def test_who_may_write_an_annotation(client: TestClient, session: Session) -> None:
    f = build(session)
    path = annotation_url(client, f, "e6")
    body = {"causes": ["blurry"], "version": 0}
    assert client.put(path, json=body).status_code == 401
    issued = create_token(session, f.ann, "old notebook")
    revoke_token(session, f.ann, issued.token.id)
    assert (
        client.put(
            path, json=body, headers={"Authorization": f"Bearer {issued.secret}"}
        ).status_code
        == 401
    )
    other_lead = make_user(session, "olga")
    make_project(session, other_lead, name="Other")
    assert client.put(path, json=body, headers=bearer(session, other_lead)).status_code == 404
    # An admin sees every project but annotates only on a team (annotations need a membership).
    admin = make_user(session, "root", admin=True)
    refused = client.put(path, json=body, headers=bearer(session, admin))
    assert refused.status_code == 403
    assert "members" in refused.json()["detail"]
    # A browser session reads only: a cookie never writes through the API.
    sign_in(client, "ann")
    assert client.put(path, json=body).status_code == 401
    assert find_annotation(session, f.errors["e6"].id, f.ann.id) is None


def test_an_archived_project_is_read_only(client: TestClient, session: Session) -> None:
    f = build(session)
    archive_project(session, get_access(session, f.lead, f.project.id))
    headers = bearer(session, "ann")
    for causes in (["blurry"], ["no such cause"]):
        response = client.put(
            annotation_url(client, f, "e6"), json={"causes": causes, "version": 0}, headers=headers
        )
        assert response.status_code == 403
        assert "archived" in response.json()["detail"]
    assert client.get(errors_url(client, f), headers=headers).status_code == 200


def test_a_sample_id_with_slashes_is_addressed_as_it_is(
    client: TestClient, session: Session
) -> None:
    from tests.factories import make_prediction, make_sample

    f = build(session)
    sample = make_sample(session, f.project, external_id="images/2024/cat 7.png", label="cat")
    make_prediction(session, f.run, sample, label="dog")
    response = client.put(
        annotation_url(client, f, "images/2024/cat 7.png"),
        json={"causes": ["tiny"], "version": 0},
        headers=bearer(session, "bob"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["sample_id"] == "images/2024/cat 7.png"


def test_a_nul_character_in_a_name_is_refused_not_a_crash(
    client: TestClient, session: Session
) -> None:
    # PostgreSQL text cannot hold NUL: such names must be refused before any query.
    f = build(session)
    headers = bearer(session, "ann")
    base = f"/api/v1/projects/{f.project.id}/runs"
    put = client.put(f"{base}/v1/errors/e%006/annotation", json={"version": 0}, headers=headers)
    assert put.status_code == 422
    assert "sample_id" in put.json()["detail"]
    assert client.get(f"{base}/v%001/errors", headers=headers).status_code == 422


def test_cause_names_match_exactly_first_then_loosely(client: TestClient, session: Session) -> None:
    from tests.factories import make_cause

    f = build(session)
    make_cause(session, f.project, "Blurry")  # a lead insisted on a near-duplicate
    headers = bearer(session, "ann")
    path = annotation_url(client, f, "e6")
    exact = client.put(path, json={"causes": ["Blurry"], "version": 0}, headers=headers)
    assert exact.json()["causes"] == ["Blurry"]
    loose = client.put(path, json={"causes": ["Tiny ", "DARK"], "version": 1}, headers=headers)
    assert loose.json()["causes"] == ["dark", "tiny"]
    ambiguous = client.put(path, json={"causes": ["BLURRY"], "version": 2}, headers=headers)
    assert ambiguous.status_code == 422
    assert "'BLURRY' matches several causes" in ambiguous.json()["detail"]


# --- the contract's edges: content with each error, a PUT without a version -------------


def test_each_error_carries_its_samples_content(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session)
    headers = bearer(session, lead)
    blob = make_image(session, store_of(settings))
    contents: dict[SampleKind, dict[str, Any]] = {
        SampleKind.IMAGE: {"image_sha256": blob.sha256, "text": None},
        SampleKind.TEXT: {"text": "the whole message, " * 40},
        SampleKind.RECORD: {"text": None, "record": {"age": 41, "city": "Lyon"}},
    }
    for kind, content in contents.items():
        project = make_project(session, lead, kind=kind, labels=["cat", "dog"])
        run = make_run(session, project, name="v1")
        make_prediction(
            session, run, make_sample(session, project, external_id="e1", **content), label="dog"
        )
        path = url(client, "api_run_errors", project_id=project.id, run="v1")
        (error,) = client.get(path, headers=headers).json()["errors"]
        assert error["text"] == content.get("text")
        assert error["record"] == content.get("record")
        if kind is SampleKind.IMAGE:
            # Absolute, fetched with the same token: the notebook sees what it pulls.
            image = client.get(error["image_url"], headers=headers)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/png"
            thumbnail = client.get(error["thumbnail_url"], headers=headers)
            assert thumbnail.status_code == 200
        else:
            assert (error["image_url"], error["thumbnail_url"]) == (None, None)


def test_a_put_without_a_version_writes_over_the_current_state(
    client: TestClient, session: Session
) -> None:
    f = build(session)
    headers = bearer(session, "ann")
    # ann's annotation of e1 is at version 1 (blurry): without a version, as HTTP without
    # If-Match, the body is written over it.
    response = client.put(
        annotation_url(client, f, "e1"), json={"causes": ["dark"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["causes"], response.json()["version"]) == (["dark"], 2)
    # A first annotation without a version is written too.
    fresh = client.put(annotation_url(client, f, "e6"), json={"note": "new"}, headers=headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["version"] == 1
    # With a version it is checked: the one just replaced is stale now.
    stale = client.put(
        annotation_url(client, f, "e1"), json={"causes": ["blurry"], "version": 1}, headers=headers
    )
    assert stale.status_code == 409
    assert stale.json()["version"] == 2
    stored = state_of(session, find_annotation(session, f.errors["e1"].id, f.ann.id))
    assert stored.cause_ids == (f.b.id,)  # dark, as written without a version
