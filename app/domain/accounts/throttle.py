"""How many wrong passwords a sign-in may cost before it waits: per account and per
client address, on the sign-in page and the token route alike.

Per account, so a password cannot be guessed from many addresses; per address, so one
client cannot try one password on every account. Failures are rows of
`sign_in_failure`, so every worker counts the same ones. A username that does not exist
is counted like one that does: the limit reveals nothing about which usernames exist.

The cost of the per-account limit is that anyone can lock an account for a window by
failing on purpose; the window is short and a correct password works again as soon as
it ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import authenticate
from app.domain.errors import TooManyRequests
from app.i18n import ngettext
from app.models import SignInFailure, User, utcnow

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 10
PER_ADDRESS = 50


class TooManySignIns(TooManyRequests):
    """Refused without checking the password; the same words whichever limit was hit,
    so they say nothing about the account."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            ngettext(
                "Too many failed sign-ins. Try again in %(num)s minute.",
                "Too many failed sign-ins. Try again in %(num)s minutes.",
                minutes,
            ),
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the username as typed is folded like usernames are stored."""

    username: str
    address: str | None

    def limits(self) -> list[tuple[str, int]]:
        keys = [(f"account:{self.username.strip().lower()[:100]}", PER_ACCOUNT)]
        if self.address:
            keys.append((f"address:{self.address[:100]}", PER_ADDRESS))
        return keys


def sign_in(session: Session, attempt: Attempt, password: str) -> User | None:
    """`authenticate`, within the limits: the one way both sign-in routes check a password.

    Raises TooManySignIns before the password is even looked at. A failure is flushed
    here: the caller must let its transaction commit (answer, not raise) for it to count.
    """
    if not attempt.username or not password:
        return None  # nothing was tried
    check(session, attempt)
    user = authenticate(session, attempt.username, password)
    if user is None:
        record_failure(session, attempt)
    else:
        forget_failures(session, attempt)
    return user


def check(session: Session, attempt: Attempt, now: datetime | None = None) -> None:
    """Raise TooManySignIns while either count is at its limit within the window."""
    now = now or utcnow()
    since = now - WINDOW
    waits = []
    for key, limit in attempt.limits():
        count, oldest = session.execute(
            select(func.count(), func.min(SignInFailure.at)).where(
                SignInFailure.key == key, SignInFailure.at > since
            )
        ).one()
        if count >= limit and oldest is not None:
            # Free again when the oldest failure in the window leaves it.
            waits.append(math.ceil((oldest + WINDOW - now).total_seconds()))
    if waits:
        raise TooManySignIns(max(1, max(waits)))


def record_failure(session: Session, attempt: Attempt, now: datetime | None = None) -> None:
    now = now or utcnow()
    for key, _ in attempt.limits():
        session.execute(
            delete(SignInFailure).where(SignInFailure.key == key, SignInFailure.at <= now - WINDOW)
        )
        session.add(SignInFailure(key=key, at=now))
    session.flush()


def forget_failures(session: Session, attempt: Attempt) -> None:
    """After a correct password: the account's count starts again (the address's does
    not, or one known account would let a client keep guessing others)."""
    key = attempt.limits()[0][0]
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
    session.flush()
