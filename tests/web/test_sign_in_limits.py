"""Guessing passwords is limited per account and per client address, on the sign-in page
and the token route alike, and the refusal says nothing about the account."""

from __future__ import annotations

from datetime import timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts import throttle
from app.models import utcnow
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user
from tests.routes import url

ADDRESS = "testclient"  # what Starlette's TestClient reports as the client's host


def _web(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post(
        url(client, "sign_in_submit"),
        data={
            "username": username,
            "password": password,
            "csrftoken": csrf_token(client),
            "next": "/",
        },
    )


def _api(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post(
        url(client, "api_create_token"),
        json={"username": username, "password": password, "name": "nb"},
    )


ROUTES = [pytest.param(_web, id="page"), pytest.param(_api, id="token")]
WRONG = {_web: 400, _api: 401}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("username", ["ada", "nobody"])
def test_an_account_is_refused_for_a_while_after_too_many_wrong_passwords(
    client: TestClient, session: Session, route: object, username: str
) -> None:
    assert callable(route)
    make_user(session, "ada")
    for _ in range(throttle.PER_ACCOUNT):
        assert route(client, username, "wrong password!").status_code == WRONG[route]
    # Now even the right password waits: a guess that happened to be right must not tell.
    response = route(client, username.upper(), PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= throttle.WINDOW.total_seconds()
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.text
    assert "password" not in response.text.split("Too many")[1].split(".")[0]


@pytest.mark.parametrize("route", ROUTES)
def test_one_address_cannot_try_every_account(
    client: TestClient, session: Session, route: object
) -> None:
    assert callable(route)
    make_user(session, "ada")
    for n in range(throttle.PER_ADDRESS):
        throttle.record_failure(session, throttle.Attempt(f"user{n}", ADDRESS))
    response = route(client, "ada", PASSWORD)
    assert response.status_code == 429
    assert "retry-after" in response.headers


def test_the_limit_ends_with_its_window_and_a_right_password_resets_the_account(
    session: Session,
) -> None:
    user = make_user(session, "ada")
    attempt = throttle.Attempt("ada", "10.0.0.1")
    then = utcnow() - throttle.WINDOW - timedelta(seconds=1)
    for _ in range(throttle.PER_ACCOUNT):
        throttle.record_failure(session, attempt, now=then)
    throttle.check(session, attempt)  # the failures are out of the window
    assert throttle.sign_in(session, attempt, PASSWORD) == user

    for _ in range(throttle.PER_ACCOUNT - 1):
        assert throttle.sign_in(session, attempt, "wrong password!") is None
    assert throttle.sign_in(session, attempt, PASSWORD) == user
    # The account's count started again; one more failure is far from the limit.
    assert throttle.sign_in(session, attempt, "wrong password!") is None
    throttle.check(session, attempt)
    for _ in range(throttle.PER_ACCOUNT - 1):
        throttle.sign_in(session, attempt, "wrong password!")
    with pytest.raises(throttle.TooManySignIns) as refused:
        throttle.sign_in(session, attempt, PASSWORD)
    assert refused.value.retry_after > throttle.WINDOW.total_seconds() - 60
