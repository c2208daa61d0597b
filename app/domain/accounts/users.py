"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import i18n
from app.db import Database
from app.domain import live
from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.i18n import gettext as _
from app.models import ApiToken, Membership, SiteRole, User, utcnow

_hasher = PasswordHasher()

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "eyb_"  # noqa: S105 (marks Eyeball tokens so secret scanners can spot them)

# Verifying against this when the user does not exist keeps the response time the
# same, so sign-in does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and verify with `hasher` from now on (the test suite's cheap one).

    The dummy hash is remade with it so that unknown usernames still cost what known
    ones do, and hashes made with it are not "upgraded" on every sign-in.
    """
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not-a-real-password")


def normalize_username(username: str) -> str:
    return username.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            {"password": _("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH)},
            _(
                "The password is too short: use at least %(count)s characters.",
                count=MIN_PASSWORD_LENGTH,
            ),
        )


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalize_username(username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    display_name: str = "",
    admin: bool = False,
    must_change_password: bool = False,
) -> User:
    name = normalize_username(username)
    if not USERNAME_PATTERN.match(name):
        raise InvalidInput(
            {
                "username": _(
                    "2–64 letters, digits, '.', '_' or '-', starting with a letter or digit."
                )
            },
            _("%(username)s is not a valid username.", username=repr(username)),
        )
    _check_password_rules(password)
    if get_user_by_username(session, name) is not None:
        raise Conflict(_("The username %(username)s is taken.", username=repr(name)))
    user = User(
        username=name,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=SiteRole.ADMIN if admin else SiteRole.MEMBER,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    return user


class OneTimePasswordExpired(PermissionDenied):
    """The right one-time password, given after it stopped working. Said as such, since
    only someone who has the password learns it: "wrong password" sent people to retype
    a password that was right."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "This one-time password has expired: ask an administrator to reset your "
                "password for a new one."
            )
        )


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, else None (never says which was
    wrong). Raises OneTimePasswordExpired for a right one-time password that expired."""
    user = get_user_by_username(session, username)
    try:
        if user is None:
            _hasher.verify(_DUMMY_HASH, password)
            return None
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not user.is_active:
        return None
    expires = user.one_time_password_expires_at
    if user.must_change_password and expires is not None and utcnow() >= expires:
        raise OneTimePasswordExpired()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.flush()
    return user


def signed_in_user(session: Session, user_id: object, epoch: object) -> User | None:
    """The user a session cookie names, if that sign-in still stands.

    A cookie is signed, not stored, so it cannot be deleted on the server: it carries
    the user's `session_epoch` from when it was made, and `end_sign_ins` bumps the
    epoch. The check is a read of the user's row, so it holds on every worker at once.
    """
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active or user.session_epoch != epoch:
        return None
    return user


def end_sign_ins(session: Session, user: User) -> None:
    """End every sign-in of `user` at once: every browser session and every API token.

    For sign-out, a password change or reset, and deactivation. Tokens are revoked
    rather than checked against the epoch, so a token list says why one stopped working
    and reactivating the account revives neither tokens nor sessions.
    """
    user.session_epoch += 1
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    # Open live-update streams of this user re-check their access on this event (the
    # stream of a project the user sees as an admin, not a member, at its next check).
    projects = session.scalars(
        select(Membership.project_id).where(
            Membership.user_id == user.id, Membership.removed_at.is_(None)
        )
    )
    for project_id in projects:
        live.announce(session, project_id, live.ACCESS, user=user.id)
    session.flush()


def set_password(session: Session, user: User, password: str) -> None:
    """Change the password and end every sign-in and token of this user."""
    _check_password_rules(password)
    user.password_hash = hash_password(password)
    user.must_change_password = False
    user.one_time_password_expires_at = None
    end_sign_ins(session, user)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, user: User, name: str) -> IssuedToken:
    name = name.strip()
    if not name:
        raise InvalidInput({"name": _("Give the token a name, e.g. the notebook it is for.")})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_digest(secret), prefix=secret[:10])
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


# A token's use is recorded to the minute. Recorded on every request, it made each API
# call (each save a script or notebook sends) a write transaction of its own: on SQLite
# a turn at the one write lock, on PostgreSQL three round trips more.
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)


def user_for_token(session: Session, secret: str, database: Database | None = None) -> User | None:
    """The active owner of a live token, its use recorded (to the minute).

    With `database`, the use is recorded in a short write transaction of its own, so
    that a read-only request keeps its non-blocking `session`; else in `session`.
    """
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == _digest(secret),
            ApiToken.revoked_at.is_(None),
            User.is_active.is_(True),
        )
    ).first()
    if found is None:
        return None
    token, user = found[0], found[1]
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RECORDED_EVERY:
        if database is None:
            token.last_used_at = now
            session.flush()
        else:
            with database.transaction() as writer:
                writer.execute(
                    update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                )
    return user


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not user.is_admin):
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def update_profile(session: Session, user: User, display_name: str) -> User:
    name = " ".join(display_name.split())
    if len(name) > 120:
        raise InvalidInput({"display_name": _("Keep the name under 120 characters.")})
    user.display_name = name
    session.flush()
    return user


def choose_language(session: Session, user: User, language: str) -> User:
    """The language `user` reads Eyeball in; "" follows their browser (app/i18n.py)."""
    if language and language not in i18n.LANGUAGES:
        raise InvalidInput({"language": _("Choose one of the languages offered.")})
    user.language = language or None
    session.flush()
    return user


def change_password(session: Session, user: User, *, current: str, new: str, repeated: str) -> None:
    """A person's own password change: they prove they know the current one.

    Every other sign-in and every token of this user ends; the caller keeps its own
    session going by storing the new `session_epoch`.
    """
    # Keys are form field names, not secrets (hence the noqa on S105 below).
    problems: dict[str, str] = {}
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        problems["current_password"] = _("That is not your current password.")
    if len(new) < MIN_PASSWORD_LENGTH:
        problems["new_password"] = _(
            "Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH
        )
    elif new == current:
        problems["new_password"] = _("Pick a password different from the current one.")
    if new != repeated:
        problems["repeat_password"] = _("The two new passwords differ.")
    if problems:
        raise InvalidInput(problems)
    set_password(session, user, new)


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """Live tokens first, newest first; revoked ones stay listed so their use is traceable."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id)
        )
    )
