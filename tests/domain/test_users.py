"""My account and what admins do to accounts: the site always keeps an admin."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.domain.accounts import admin as users
from app.domain.accounts import users as accounts
from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from tests.factories import PASSWORD, make_project, make_user


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    session: Session,
) -> None:
    user = make_user(session)
    epoch = user.session_epoch
    with pytest.raises(InvalidInput) as caught:
        accounts.change_password(session, user, current="wrong", new="short", repeated="other")
    assert set(caught.value.fields) == {"current_password", "new_password", "repeat_password"}
    assert user.session_epoch == epoch
    accounts.change_password(
        session, user, current=PASSWORD, new="a brand new one", repeated="a brand new one"
    )
    assert user.session_epoch == epoch + 1
    assert accounts.authenticate(session, user.username, "a brand new one") == user
    assert accounts.authenticate(session, user.username, PASSWORD) is None


def test_display_names_are_tidied(session: Session) -> None:
    user = make_user(session)
    accounts.update_profile(session, user, "  Ann   Lee ")
    assert user.shown_name == "Ann Lee"


def test_tokens_are_listed_live_first(session: Session) -> None:
    user = make_user(session)
    old = accounts.create_token(session, user, "old").token
    accounts.revoke_token(session, user, old.id)
    live = accounts.create_token(session, user, "live").token
    assert accounts.tokens_of(session, user) == [live, old]
    assert accounts.tokens_of(session, make_user(session)) == []


def test_admins_create_users_with_a_one_time_password(session: Session) -> None:
    admin = make_user(session, admin=True)
    created = users.create_user_with_one_time_password(session, admin, "Newbie", display_name="N")
    assert created.user.username == "newbie"
    assert created.user.must_change_password
    assert accounts.authenticate(session, "newbie", created.password) == created.user
    with pytest.raises(PermissionDenied):
        users.create_user_with_one_time_password(session, created.user, "another")


def test_reset_password_ends_sessions_and_asks_for_a_new_one(session: Session) -> None:
    admin, user = make_user(session, admin=True), make_user(session)
    epoch = user.session_epoch
    reset = users.reset_password(session, admin, user.id)
    assert user.must_change_password
    assert user.session_epoch == epoch + 1
    assert accounts.authenticate(session, user.username, PASSWORD) is None
    assert accounts.authenticate(session, user.username, reset.password) == user


def test_the_last_admin_is_protected(session: Session) -> None:
    admin = make_user(session, admin=True)
    with pytest.raises(Conflict):
        users.set_admin(session, admin, admin.id, admin=False)
    with pytest.raises(Conflict):
        users.set_active(session, admin, admin.id, active=False)
    other = make_user(session)
    users.set_admin(session, admin, other.id, admin=True)
    users.set_admin(session, other, admin.id, admin=False)
    assert not admin.is_admin
    assert other.is_admin


def test_deactivated_users_cannot_sign_in_until_reactivated(session: Session) -> None:
    admin, user = make_user(session, admin=True), make_user(session)
    users.set_active(session, admin, user.id, active=False)
    assert accounts.authenticate(session, user.username, PASSWORD) is None
    users.set_active(session, admin, user.id, active=True)
    assert accounts.authenticate(session, user.username, PASSWORD) == user


def test_the_user_list_shows_their_projects(session: Session) -> None:
    admin, lead, ann = make_user(session, admin=True), make_user(session), make_user(session)
    make_project(session, lead, name="Birds", annotators=[ann])
    make_project(session, lead, name="Apes")
    rows = {row.user.id: row for row in users.list_users(session, admin)}
    assert [(p.name, r.value) for p, r in rows[lead.id].projects] == [
        ("Apes", "lead"),
        ("Birds", "lead"),
    ]
    assert [p.name for p, _ in rows[ann.id].projects] == ["Birds"]
    assert rows[admin.id].projects == []
    with pytest.raises(PermissionDenied):
        users.list_users(session, lead)
