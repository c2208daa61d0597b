"""Signing out, a password change or reset and deactivation end every sign-in of the user
at once: browser sessions (a copied cookie included) and API tokens; reactivation
revives none of them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts.admin import reset_password, set_active
from app.domain.accounts.users import create_token, tokens_of
from app.models import User
from tests.conftest import csrf_token, sign_in
from tests.factories import PASSWORD, make_user
from tests.routes import url


def _copy(app: FastAPI, client: TestClient) -> TestClient:
    """Another browser holding a copy of `client`'s cookie (stolen, or an old tab)."""
    other = TestClient(app, follow_redirects=False)
    other.cookies.update(client.cookies)
    return other


def _token_works(client: TestClient, secret: str) -> bool:
    response = client.get(url(client, "api_me"), headers={"Authorization": f"Bearer {secret}"})
    return response.status_code == 200


def _signed_in(client: TestClient) -> bool:
    return client.get(url(client, "projects")).status_code == 200


def test_sign_out_ends_a_copied_cookie_and_the_tokens(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    ada = make_user(session, "ada")
    secret = create_token(session, ada, "nb").secret
    sign_in(client, "ada")
    with _copy(app, client) as copy:
        assert _signed_in(copy)
        response = client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
        assert response.status_code == 303
        assert not _signed_in(copy)
    assert not _token_works(client, secret)
    assert all(t.revoked_at is not None for t in tokens_of(session, ada))


def test_a_password_change_keeps_only_this_sign_in(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    with _copy(app, client) as other, TestClient(app, follow_redirects=False) as notebook:
        issued = notebook.post(
            url(client, "api_create_token"),
            json={"username": "ada", "password": PASSWORD, "name": "nb"},
        )
        secret = issued.json()["token"]
        response = client.post(
            url(client, "account_password"),
            data={
                "csrftoken": csrf_token(client),
                "current_password": PASSWORD,
                "new_password": "another long password",
                "repeat_password": "another long password",
            },
        )
        assert response.status_code == 303
        assert _signed_in(client)
        assert not _signed_in(other)
        assert not _token_works(notebook, secret)


def _reset(session: Session, admin: User, user: User) -> None:
    reset_password(session, admin, user.id)


def _deactivate_and_reactivate(session: Session, admin: User, user: User) -> None:
    set_active(session, admin, user.id, active=False)
    set_active(session, admin, user.id, active=True)


@pytest.mark.parametrize("end", [_reset, _deactivate_and_reactivate])
def test_an_admin_ends_every_sign_in(
    client: TestClient, session: Session, end: Callable[[Session, User, User], None]
) -> None:
    admin = make_user(session, "root", admin=True)
    ada = make_user(session, "ada")
    secret = create_token(session, ada, "nb").secret
    sign_in(client, "ada")
    assert _signed_in(client)
    assert _token_works(client, secret)
    end(session, admin, ada)
    session.commit()
    assert not _signed_in(client)
    assert not _token_works(client, secret)
