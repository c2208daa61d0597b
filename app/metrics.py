"""Prometheus metrics: what /metrics reports, in one process or across several workers.

With several workers (`eyeball serve --workers N`) each process writes its figures to
files in PROMETHEUS_MULTIPROC_DIR, which `serve` creates empty before the workers start,
and /metrics adds up every process's files (prometheus_client's multiprocess mode). That
variable is prometheus_client's own: it chooses how values are kept when it is first
imported, so this module reads it the same way, at import, and the two always agree.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = MULTIPROCESS_ENV in os.environ
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "eyeball_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "eyeball_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    # Pages and saves answer in milliseconds; exports and imports take seconds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ANNOTATIONS_SAVED = Counter(
    "eyeball_annotations_saved",
    "Annotation changes committed (a save that changed nothing is not counted).",
)
IMPORTS = Counter(
    "eyeball_imports",
    "Imports of a run's predictions, by outcome: imported, or refused with problems.",
    ["outcome"],
)
LIVE_SUBSCRIBERS = Gauge(
    "eyeball_live_subscribers",
    "Open pages listening for live updates (server-sent event streams).",
    # Summed over the workers that are alive: a stopped worker's streams are gone.
    multiprocess_mode="livesum",
)

_PENDING = "eyeball_metrics_pending"


def count_after_commit(session: Session, counter: Counter) -> None:
    """Add one to `counter` when the session's transaction commits, never if it rolls back:
    a save that fails to commit was not a save."""
    session.info.setdefault(_PENDING, []).append(counter)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    # Also fired when a SAVEPOINT is released; only the outermost commit counts.
    if session.in_nested_transaction():
        return
    for counter in session.info.pop(_PENDING, []):
        counter.inc()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)


def exposition() -> bytes:
    """The text /metrics answers: this process's figures, or every worker's added up."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_stopped() -> None:
    """A worker shutting down: its live gauges stop counting (its counters stay added)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def may_read(client_host: str | None, authorization: str | None, token: str) -> bool:
    """Who may read /metrics: with a token configured, whoever sends it as a bearer token;
    without one, only a client on this machine (a scraper on the host, or a reverse proxy
    that does not forward /metrics)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if client_host is None:
        return False
    try:
        return ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False
