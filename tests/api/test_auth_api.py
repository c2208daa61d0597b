"""API calls authenticate by bearer token; a browser sign-in may only read."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token, revoke_token
from app.models import ApiToken, User, utcnow
from tests.conftest import sign_in, sqlite_server
from tests.factories import make_user


def test_a_token_identifies_its_owner(client: TestClient, session: Session) -> None:
    user = make_user(session, "ada", display_name="Ada")
    token = create_token(session, user, "notebook").secret
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"username": "ada", "display_name": "Ada", "admin": False}


def test_no_token_is_a_401_json_not_a_redirect(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "Bearer" in response.json()["detail"]


def test_revoked_and_unknown_tokens_are_refused(client: TestClient, session: Session) -> None:
    user = make_user(session)
    issued = create_token(session, user, "old")
    revoke_token(session, user, issued.token.id)
    for secret in (issued.secret, "eyb_not-a-token"):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401
        assert response.json() == {"detail": "This API token is unknown or revoked."}


def test_deactivated_users_tokens_stop_working(client: TestClient, session: Session) -> None:
    user = make_user(session)
    secret = create_token(session, user, "nb").secret
    user.is_active = False
    session.flush()
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def test_a_signed_in_browser_may_read(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    assert client.get("/api/v1/me").json()["username"] == "ada"


def test_unknown_api_paths_answer_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is nothing at this address."}


def test_a_notebook_gets_a_token_with_its_password(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "ADA", "password": "correct horse battery", "name": "nb"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "nb"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["username"] == "ada"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ada", "password": "wrong password!", "name": "nb"},
        {"username": "nobody", "password": "correct horse battery", "name": "nb"},
    ],
)
def test_wrong_credentials_get_no_token(
    client: TestClient, session: Session, body: dict[str, str]
) -> None:
    make_user(session, "ada")
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password."}


def test_a_token_needs_a_name(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "ada", "password": "correct horse battery", "name": " "},
    )
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


def test_malformed_bodies_get_a_readable_422(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", json={"username": "ada"})
    assert response.status_code == 422
    assert response.json()["detail"] == "password: Field required; name: Field required"


def test_a_one_time_password_opens_no_api_door(client: TestClient, session: Session) -> None:
    from app.domain.accounts.admin import create_user_with_one_time_password

    admin = make_user(session, "root", admin=True)
    issued = create_user_with_one_time_password(session, admin, "newbie")
    refused = client.post(
        "/api/v1/auth/token",
        json={"username": "newbie", "password": issued.password, "name": "nb"},
    )
    assert refused.status_code == 403
    assert "new password" in refused.json()["detail"]
    # A token made some other way (the CLI) waits for the password change too.
    secret = create_token(session, issued.user, "cli").secret
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 403
    issued.user.must_change_password = False
    session.flush()
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )


def test_a_token_works_for_writes_and_reads_on_a_real_sqlite_server(tmp_path: Path) -> None:
    # The suite's client shares one connection with the test, so it cannot see two
    # transactions of one request wait for each other; SQLite's one write lock on a real
    # server can (a token's use recorded beside a write request's own transaction: 500
    # after the busy timeout).
    with sqlite_server(tmp_path) as (base, database, project_id):
        with database.transaction() as session:
            lead = session.scalars(select(User).where(User.username == "lead")).one()
            issued = create_token(session, lead, "notebook")
            secret, token_id = issued.secret, issued.token.id
        headers = {"Authorization": f"Bearer {secret}"}

        def last_used() -> datetime | None:
            with database.transaction(read_only=True) as session:
                return session.get_one(ApiToken, token_id).last_used_at

        def as_if_used_long_ago() -> None:
            with database.transaction() as session:
                session.get_one(ApiToken, token_id).last_used_at = utcnow() - timedelta(hours=1)

        # Its first use a write: answered, stored, and the use recorded.
        created = httpx.post(
            f"{base}/api/v1/projects/{project_id}/causes",
            json={"name": "blurry"},
            headers=headers,
            timeout=60,
        )
        assert created.status_code == 201, created.text
        first = last_used()
        assert first is not None
        assert utcnow() - first < timedelta(minutes=1)

        # Its next use, long after, a read: recorded too.
        as_if_used_long_ago()
        causes = httpx.get(f"{base}/api/v1/projects/{project_id}/causes", headers=headers)
        assert causes.status_code == 200
        assert [c["name"] for c in causes.json()] == ["blurry"]
        again = last_used()
        assert again is not None
        assert utcnow() - again < timedelta(minutes=1)
