"""Signing in and out, what needs a sign-in, and the security every page carries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.accounts.users import (
    OneTimePasswordExpired,
    authenticate,
    get_user_by_username,
    set_password,
)
from app.main import create_app
from app.models import User, utcnow
from tests.conftest import csrf_token, sign_in
from tests.factories import PASSWORD, make_user
from tests.pages import one
from tests.routes import url


def page(response_text: str) -> BeautifulSoup:
    return BeautifulSoup(response_text, "html.parser")


def test_healthz_answers_without_sign_in(client: TestClient) -> None:
    response = client.get(url(client, "healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_pages_need_sign_in(client: TestClient) -> None:
    response = client.get("/projects/1?tab=runs")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fprojects%2F1%3Ftab%3Druns"


def test_htmx_requests_are_sent_to_sign_in_as_a_whole_page(client: TestClient) -> None:
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/sign-in?next=")


def test_right_password_signs_in_and_lands_on_next(client: TestClient, session: Session) -> None:
    make_user(session, "ada", display_name="Ada L.")
    token = csrf_token(client)
    response = client.post(
        "/sign-in",
        data={
            "username": "ADA",
            "password": "correct horse battery",
            "csrftoken": token,
            "next": "/projects/7",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/7"
    projects = client.get("/")
    assert projects.status_code == 200
    assert one(page(projects.text), ".account .who").get_text(strip=True) == "Ada L."


@pytest.mark.parametrize(
    ("username", "password"), [("ada", "wrong password!"), ("nobody", "correct horse battery")]
)
def test_wrong_sign_in_does_not_say_which_part_was_wrong(
    client: TestClient, session: Session, username: str, password: str
) -> None:
    make_user(session, "ada")
    response = sign_in(client, username, password)
    assert response.status_code == 400
    doc = page(response.text)
    assert one(doc, "#sign-in-error").get_text(strip=True) == "Wrong username or password."
    assert one(doc, "#username")["value"] == username  # what was typed is kept
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_sign_in_only_redirects_to_local_paths(
    client: TestClient, session: Session, target: str
) -> None:
    make_user(session, "ada")
    token = csrf_token(client)
    response = client.post(
        "/sign-in",
        data={
            "username": "ada",
            "password": "correct horse battery",
            "csrftoken": token,
            "next": target,
        },
    )
    assert response.headers["location"] == "/"


def test_sign_out_ends_the_session(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    token = csrf_token(client)
    assert client.post("/sign-out", data={"csrftoken": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_password_change_signs_out_other_sessions(client: TestClient, session: Session) -> None:
    user = make_user(session, "ada")
    sign_in(client, "ada")
    assert client.get("/").status_code == 200
    set_password(session, user, "another long password")
    session.commit()
    assert client.get("/").status_code == 303


def test_forms_without_a_csrf_token_are_refused(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    response = client.post("/sign-out", data={})
    assert response.status_code == 403
    assert "nothing was changed" in one(page(response.text), "[role=alert]").get_text()
    assert client.get("/").status_code == 200  # still signed in


def test_a_sign_in_form_from_another_site_signs_no_one_in(
    client: TestClient, session: Session
) -> None:
    """Login CSRF: the victim's browser has no cookie of ours, the form carries the
    attacker's own credentials and a token the attacker got from our page."""
    make_user(session, "mallory")
    token = csrf_token(client)
    client.cookies.clear()
    response = client.post(
        url(client, "sign_in_submit"),
        data={"username": "mallory", "password": PASSWORD, "csrftoken": token, "next": "/"},
    )
    assert response.status_code == 403
    assert client.get(url(client, "projects")).status_code == 303  # still signed out


def test_a_bearer_header_does_not_skip_csrf_on_pages(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    response = client.post(
        url(client, "sign_out"), data={}, headers={"Authorization": "Bearer eyb_anything"}
    )
    assert response.status_code == 403
    assert client.get(url(client, "projects")).status_code == 200  # still signed in


def test_htmx_requests_pass_csrf_with_the_header(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    token = csrf_token(client)
    response = client.post("/sign-out", headers={"x-csrftoken": token, "HX-Request": "true"})
    assert response.status_code == 303


def test_session_cookie_is_httponly_and_samesite_lax(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    response = sign_in(client, "ada")
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "eyeball_session" in v
    )
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_every_page_carries_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/sign-in")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    doc = page(response.text)
    assert all(script.get("src") for script in doc.find_all("script")), "no inline scripts"


def test_unknown_pages_get_a_page_not_a_trace(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert one(page(response.text), "#error h1").get_text(strip=True) == "Not found"


def test_bad_path_parameters_get_a_clear_page(client: TestClient, session: Session) -> None:
    make_user(session, "ada")
    sign_in(client, "ada")
    response = client.get("/projects/not-a-number")
    assert response.status_code == 422
    assert "project_id" in one(page(response.text), "#error").get_text()


def test_hsts_is_sent_only_behind_https(client: TestClient, settings: Settings) -> None:
    assert "strict-transport-security" not in client.get("/sign-in").headers
    behind_https = settings.model_copy(update={"https": True})
    app = create_app(behind_https, client.app.state.database)  # type: ignore[attr-defined]
    with TestClient(app, base_url="https://testserver") as secure:
        hsts = secure.get("/sign-in").headers["strict-transport-security"]
    assert hsts == "max-age=31536000; includeSubDomains"


def test_an_unused_one_time_password_expires(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_user(session, "root", admin=True)
    settings.one_time_password_hours = 2
    assert sign_in(client, admin.username).status_code == 303
    before = utcnow()
    page = client.post(
        url(client, "user_create"), data={"username": "newbie", "csrftoken": csrf_token(client)}
    )
    assert page.status_code == 200
    doc = BeautifulSoup(page.text, "html.parser")
    password = one(doc, "#otp").get_text()
    assert "stops working on" in one(doc, "#one-time-password").get_text()
    newbie = get_user_by_username(session, "newbie")
    assert newbie is not None
    assert newbie.one_time_password_expires_at is not None
    assert before + timedelta(hours=2) <= newbie.one_time_password_expires_at
    assert newbie.one_time_password_expires_at <= utcnow() + timedelta(hours=2)

    assert authenticate(session, "newbie", password) == newbie
    newbie.one_time_password_expires_at = utcnow() - timedelta(seconds=1)  # two hours later
    with pytest.raises(OneTimePasswordExpired):
        authenticate(session, "newbie", password)
    assert authenticate(session, "newbie", "not the password") is None, "that says nothing"
    # Who has the password is told it expired, not that it is wrong; the API alike.
    client.post(url(client, "sign_out"), data={"csrftoken": csrf_token(client)})
    page = client.post(
        url(client, "sign_in_submit"),
        data={"username": "newbie", "password": password, "csrftoken": csrf_token(client)},
    )
    assert page.status_code == 403
    message = one(BeautifulSoup(page.text, "html.parser"), "[role=alert]").get_text(strip=True)
    assert message == (
        "This one-time password has expired: ask an administrator to reset your password "
        "for a new one."
    )
    wrong = client.post(
        url(client, "sign_in_submit"),
        data={"username": "newbie", "password": "a wrong one", "csrftoken": csrf_token(client)},
    )
    assert "Wrong username or password." in wrong.text
    token = client.post(
        url(client, "api_create_token"),
        json={"username": "newbie", "password": password, "name": "nb"},
    )
    assert token.status_code == 403
    assert token.json()["detail"].startswith("This one-time password has expired")
    # A password of their own never expires (an admin's reset starts a new clock).
    set_password(session, newbie, "my own long password")
    assert authenticate(session, "newbie", "my own long password") == newbie
    assert (
        session.scalar(select(User.one_time_password_expires_at).where(User.id == newbie.id))
        is None
    )
