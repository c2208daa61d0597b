"""Per-process fan-out of committed changes to open pages (server-sent events).

One hub per worker process. On SQLite (a single process) commits feed it directly;
on PostgreSQL one LISTEN connection per process feeds it, so a save in any worker
reaches the pages open on every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import psycopg
from sqlalchemy.engine import make_url

from app import metrics
from app.domain.live import CHANNEL, Announcement

log = logging.getLogger("eyeball.live")
QUEUE_SIZE = 1000
RECONNECT_DELAY = 1.0


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[Announcement]]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, change: Announcement) -> None:
        """Thread-safe: routes run in a thread pool, subscribers live on the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self.deliver, change)

    def deliver(self, change: Announcement) -> None:
        """On the event loop only."""
        for queue in list(self._subscribers.get(change.project_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                # A page too slow to keep up misses updates rather than stalling others;
                # its next full refresh shows the truth anyway.
                queue.put_nowait(change)

    @contextlib.asynccontextmanager
    async def subscription(self, project_id: int) -> AsyncIterator[asyncio.Queue[Announcement]]:
        queue: asyncio.Queue[Announcement] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers[project_id].add(queue)
        metrics.LIVE_SUBSCRIBERS.inc()
        try:
            yield queue
        finally:
            metrics.LIVE_SUBSCRIBERS.dec()
            self._subscribers[project_id].discard(queue)
            if not self._subscribers[project_id]:
                del self._subscribers[project_id]


def libpq_url(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


async def listen_postgres(url: str, hub: Hub, ready: asyncio.Event | None = None) -> None:
    """Forward NOTIFYs on CHANNEL to the hub until cancelled; reconnect if the link drops."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_url(url), autocommit=True
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if ready is not None:
                    ready.set()
                async for notify in conn.notifies():
                    try:
                        hub.deliver(Announcement.from_json(notify.payload))
                    except (ValueError, KeyError):
                        log.warning("ignored a malformed live notification: %r", notify.payload)
        except asyncio.CancelledError:
            raise
        except psycopg.Error as exc:
            log.warning("live updates: PostgreSQL listener lost (%s); reconnecting", exc)
            await asyncio.sleep(RECONNECT_DELAY)
