"""Announcing changes that open pages should show at once (new causes, saved annotations).

An announcement is part of the transaction that made the change: it reaches
listeners only if that transaction commits, and never before. On PostgreSQL it is a
`pg_notify` issued inside the transaction (PostgreSQL delivers it at commit, to
every worker process); on SQLite it is kept on the session and handed to the
in-process hub after commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

CHANNEL = "eyeball_live"
# Someone's access may have ended (removed from the team, signed out, deactivated): open
# streams re-check theirs. Pages never see this kind.
ACCESS = "access"
_PENDING = "eyeball_live_pending"


@dataclass(frozen=True)
class Announcement:
    project_id: int
    kind: str  # "annotation" or "cause": the `sse:<kind>` that pages listen for
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str) -> Announcement:
        raw = json.loads(payload)
        return cls(project_id=int(raw["project_id"]), kind=str(raw["kind"]), data=dict(raw["data"]))


# Set by the app at start-up: where committed changes go in this process (SQLite).
_local_sink: Callable[[Announcement], None] | None = None


def set_local_sink(sink: Callable[[Announcement], None] | None) -> None:
    global _local_sink
    _local_sink = sink


def announce(session: Session, project_id: int, kind: str, **data: Any) -> None:
    change = Announcement(project_id=project_id, kind=kind, data=data)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": change.to_json()},
        )
        return
    session.info.setdefault(_PENDING, []).append(change)


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    # SQLAlchemy also fires this when a SAVEPOINT is released; only the outermost
    # commit makes the change visible to the pages that will re-read it.
    if session.in_nested_transaction():
        return
    pending: list[Announcement] = session.info.pop(_PENDING, [])
    if _local_sink is not None:
        for change in pending:
            _local_sink(change)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    # A savepoint rolled back (a refused save) leaves the outer transaction, and what
    # it announced before the savepoint, to be committed.
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
