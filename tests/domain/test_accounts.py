from __future__ import annotations

import dataclasses
import subprocess
import sys

import argon2
import pytest
from sqlalchemy.orm import Session

from app.domain.accounts import users as accounts
from app.domain.errors import Conflict, InvalidInput, NotFound
from tests.checkout import CHECKOUT
from tests.factories import PASSWORD, make_user
from tests.hashing import use_cheap_hashing


def test_usernames_are_unique_whatever_the_case(session: Session) -> None:
    make_user(session, "Ada")
    with pytest.raises(Conflict, match="taken"):
        make_user(session, "ADA")
    assert accounts.get_user_by_username(session, "aDa") is not None


@pytest.mark.parametrize("username", ["a", "has space", "-dash-first", "x" * 65, "é"])
def test_bad_usernames_are_refused(session: Session, username: str) -> None:
    with pytest.raises(InvalidInput):
        make_user(session, username)


def test_short_passwords_are_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match="too short"):
        make_user(session, "bob", password="short")


def test_password_is_stored_as_an_argon2_hash(session: Session) -> None:
    user = make_user(session, "carol")
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash


@pytest.mark.slow
def test_production_hashes_passwords_at_argon2s_rfc_9106_cost() -> None:
    # The suite hashes cheaply (tests/hashing.py); a fresh interpreter without that swap
    # hashes as a deployment does, so weakening production along with the tests fails here.
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.domain.accounts.users import hash_password as h; print(h('pw'))",
        ],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # argon2id, 3 passes over 64 MiB with 4 lanes: PasswordHasher()'s defaults.
    assert argon2.extract_parameters(made.stdout.strip()) == argon2.profiles.RFC_9106_LOW_MEMORY


def test_a_sign_in_upgrades_a_hash_of_an_older_cost_once(session: Session) -> None:
    user = make_user(session, "erin")
    cheap = argon2.extract_parameters(user.password_hash)
    costlier = dataclasses.replace(cheap, time_cost=cheap.time_cost + 1)
    accounts.use_password_hasher(argon2.PasswordHasher.from_parameters(costlier))
    try:
        assert accounts.authenticate(session, "erin", PASSWORD) is user
        upgraded = user.password_hash
        assert argon2.extract_parameters(upgraded) == costlier
        assert accounts.authenticate(session, "erin", PASSWORD) is user
        assert user.password_hash == upgraded, "hashed again although already at today's cost"
    finally:
        use_cheap_hashing()


def test_authenticate_right_and_wrong(session: Session) -> None:
    user = make_user(session, "dave")
    assert accounts.authenticate(session, "DAVE", PASSWORD) is user
    assert user.last_login_at is not None
    assert accounts.authenticate(session, "dave", "wrong password") is None
    assert accounts.authenticate(session, "nobody", PASSWORD) is None


def test_inactive_users_cannot_sign_in(session: Session) -> None:
    user = make_user(session, "erin")
    user.is_active = False
    assert accounts.authenticate(session, "erin", PASSWORD) is None


def test_password_change_ends_other_sessions(session: Session) -> None:
    user = make_user(session, "frank")
    epoch = user.session_epoch
    accounts.set_password(session, user, "a brand new password")
    assert user.session_epoch == epoch + 1
    assert accounts.authenticate(session, "frank", "a brand new password") is user
    assert accounts.authenticate(session, "frank", PASSWORD) is None


def test_tokens_are_stored_hashed_and_can_be_revoked(session: Session) -> None:
    user = make_user(session, "gina")
    issued = accounts.create_token(session, user, "notebook")
    assert issued.secret.startswith(accounts.TOKEN_PREFIX)
    assert issued.secret not in issued.token.token_hash
    assert accounts.user_for_token(session, issued.secret) is user
    assert issued.token.last_used_at is not None
    assert accounts.user_for_token(session, issued.secret + "x") is None

    accounts.revoke_token(session, user, issued.token.id)
    assert accounts.user_for_token(session, issued.secret) is None


def test_a_tokens_use_is_recorded_to_the_minute_not_on_every_request(
    session: Session,
) -> None:
    """Every API call recorded its token's use: a write transaction per save a script
    sent. Within a minute of the last record, a use writes nothing."""
    user = make_user(session)
    issued = accounts.create_token(session, user, "notebook")
    assert accounts.user_for_token(session, issued.secret) is user
    first = issued.token.last_used_at
    assert first is not None
    assert accounts.user_for_token(session, issued.secret) is user
    assert issued.token.last_used_at == first

    issued.token.last_used_at = first - accounts.TOKEN_USE_RECORDED_EVERY
    session.flush()
    assert accounts.user_for_token(session, issued.secret) is user
    assert issued.token.last_used_at > first


def test_a_token_of_a_deactivated_user_names_nobody(session: Session) -> None:
    user = make_user(session)
    issued = accounts.create_token(session, user, "ci")
    user.is_active = False
    session.flush()
    assert accounts.user_for_token(session, issued.secret) is None


def test_nobody_revokes_another_users_token(session: Session) -> None:
    owner, other = make_user(session), make_user(session)
    issued = accounts.create_token(session, owner, "ci")
    with pytest.raises(NotFound):
        accounts.revoke_token(session, other, issued.token.id)
