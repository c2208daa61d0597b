"""Committed changes reach open pages at once; uncommitted ones never do.

Real servers and a real SSE client: on SQLite in one process, and on PostgreSQL
with two uvicorn workers, where the change is committed by another process.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.orm import Session

from app import schema
from app.db import Database
from app.domain import live
from app.domain.projects.access import get_access
from app.domain.projects.causes import create_cause
from app.domain.projects.team import change_role
from app.models import Project, ProjectRole, User
from tests.conftest import PostgresDatabases, sqlite_server, start_server
from tests.factories import PASSWORD, make_project, make_user


def test_sqlite_announcements_are_delivered_after_commit_only(tmp_path: Path) -> None:
    # On PostgreSQL the same guarantee is PostgreSQL's own NOTIFY (tested with a server below).
    database = Database.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    received: list[live.Announcement] = []
    live.set_local_sink(received.append)
    try:
        with database.writer() as session:
            live.announce(session, 7, "cause", cause=1)
            assert received == []
            session.rollback()
        assert received == []
        with database.writer() as session:
            live.announce(session, 7, "cause", cause=2)
            session.commit()
        assert received == [live.Announcement(7, "cause", {"cause": 2})]
    finally:
        live.set_local_sink(None)
        database.dispose()
        database.dispose()


def test_a_savepoint_neither_delivers_nor_forgets_what_the_transaction_announced(
    tmp_path: Path,
) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    received: list[live.Announcement] = []
    live.set_local_sink(received.append)
    try:
        with database.writer() as session:
            live.announce(session, 7, "cause", cause=1)
            session.begin_nested().commit()  # annotations.save releases a savepoint
            session.begin_nested().rollback()  # ... or rolls one back on a conflict
            assert received == []
            session.commit()
        assert received == [live.Announcement(7, "cause", {"cause": 1})]
    finally:
        live.set_local_sink(None)
        database.dispose()


def test_changes_round_trip_through_json() -> None:
    change = live.Announcement(3, "annotation", {"prediction": 9, "version": 2})
    assert live.Announcement.from_json(change.to_json()) == change


# --- a real SSE client ----------------------------------------------------------------


def signed_in(base_url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=10)
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    response = client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrftoken": token.group(1), "next": "/"},
    )
    assert response.status_code == 303
    return client


@contextmanager
def listening(
    client: httpx.Client, project_id: int, query: str = ""
) -> Iterator[queue.Queue[tuple[str, dict[str, Any]]]]:
    """Subscribe to a project's events in a thread; yields once the server confirms."""
    events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def read() -> None:
        try:
            path = f"/projects/{project_id}/events{query}"
            with client.stream("GET", path, timeout=None) as response:
                sockets.append(response.extensions["network_stream"].get_extra_info("socket"))
                name = ""
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        events.put((name, json.loads(line.split(":", 1)[1])))
        except (httpx.HTTPError, RuntimeError):
            if not stop.is_set():  # closing the client ends the stream; anything else is real
                events.put(("broken", {}))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert events.get(timeout=10)[0] == "subscribed"
    try:
        yield events
    finally:
        stop.set()
        # Closing a socket that this thread is blocked reading sends nothing until the
        # read returns, so the server would notice the client gone only at its next ping
        # (15 s) and keep its shutdown waiting; shutting the socket down ends both now.
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        client.close()
        thread.join(timeout=10)


def next_event(
    events: queue.Queue[tuple[str, dict[str, Any]]], kind: str, within: float = 1.0
) -> dict[str, Any]:
    """The next event of that kind, which must arrive within `within` seconds."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            name, data = events.get(timeout=left)
        except queue.Empty:
            break
        if name == kind:
            return data
    raise AssertionError(f"no {kind!r} event within {within}s")


def test_a_new_cause_reaches_open_pages_within_a_second_on_sqlite(tmp_path: Path) -> None:
    with (
        sqlite_server(tmp_path) as (base, database, project_id),
        listening(signed_in(base, "ann"), project_id) as events,
    ):
        with database.transaction() as session:
            create_cause(session, get_access(session, _user(session, "lead"), project_id), "blurry")
        assert next_event(events, "cause")["name"] == "blurry"


def test_a_page_about_one_run_hears_only_that_runs_saves(tmp_path: Path) -> None:
    with (
        sqlite_server(tmp_path) as (base, database, project_id),
        listening(signed_in(base, "ann"), project_id, "?run=2") as events,
    ):
        with database.transaction() as session:
            live.announce(session, project_id, "annotation", run=1, prediction=10, version=1)
            live.announce(session, project_id, "annotation", run=2, prediction=20, version=1)
            live.announce(session, project_id, "cause", cause=5, name="dark")
        # ann is an annotator under blind review: told which error changed, nothing more.
        assert next_event(events, "annotation") == {"run": 2, "prediction": 20}
        assert next_event(events, "cause")["name"] == "dark"  # other kinds still arrive


def test_a_blind_annotators_stream_never_says_whose_save_it_was(tmp_path: Path) -> None:
    """Blind review: an annotator's events name the error that changed, and their page
    asks for its own view of it; a lead's still say who saved which version."""
    with (
        sqlite_server(tmp_path) as (base, database, project_id),
        listening(signed_in(base, "lead"), project_id) as lead_events,
        listening(signed_in(base, "ann"), project_id) as ann_events,
    ):
        with database.transaction() as session:
            live.announce(
                session, project_id, "annotation", run=1, prediction=10, annotator=9, version=4
            )
        full = {"run": 1, "prediction": 10, "annotator": 9, "version": 4}
        assert next_event(lead_events, "annotation") == full
        assert next_event(ann_events, "annotation") == {"run": 1, "prediction": 10}


def test_a_stream_open_when_a_lead_turns_blind_review_on_holds_back_the_next_event(
    tmp_path: Path,
) -> None:
    """Blind review is asked before every event, not once when the stream connects: a
    lead turning it off or on changes what an annotator's open stream says next."""
    full = {"run": 1, "prediction": 10, "annotator": 9, "version": 4}
    with (
        sqlite_server(tmp_path) as (base, database, project_id),
        listening(signed_in(base, "ann"), project_id) as ann_events,
    ):
        for blind, expected in ((False, full), (True, {"run": 1, "prediction": 10})):
            with database.transaction() as session:
                project = session.get(Project, project_id)
                assert project is not None
                project.blind_review = blind  # as the lead's settings form saves it
            with database.transaction() as session:
                live.announce(session, project_id, "annotation", **full)
            assert next_event(ann_events, "annotation") == expected


def test_a_stream_open_when_its_viewer_changes_role_follows_the_new_role(
    tmp_path: Path,
) -> None:
    """The viewer's role is asked before every event too: an annotator made lead while
    their page is open sees whose work it was from the next event on, and a lead made
    annotator stops seeing it, under blind review, without reconnecting."""
    full = {"run": 1, "prediction": 10, "annotator": 9, "version": 4}
    held_back = {"run": 1, "prediction": 10}
    with sqlite_server(tmp_path) as (base, database, project_id):
        with database.transaction() as session:
            project = session.get(Project, project_id)
            assert project is not None
            project.blind_review = True
        with listening(signed_in(base, "ann"), project_id) as ann_events:
            for role, expected in (
                (ProjectRole.LEAD, full),
                (ProjectRole.ANNOTATOR, held_back),
            ):
                with database.transaction() as session:
                    lead = get_access(session, _user(session, "lead"), project_id)
                    change_role(session, lead, _user(session, "ann").id, role)
                with database.transaction() as session:
                    live.announce(session, project_id, "annotation", **full)
                assert next_event(ann_events, "annotation") == expected


def _user(session: Session, username: str) -> User:
    from app.domain.accounts.users import get_user_by_username

    user = get_user_by_username(session, username)
    assert user is not None
    return user


@pytest.mark.slow
def test_changes_reach_pages_on_every_worker_on_postgresql(
    postgres: PostgresDatabases,
    tmp_path: Path,
) -> None:
    url = postgres.create()
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    with database.transaction() as session:
        lead, ann = make_user(session, "lead"), make_user(session, "ann")
        project_id = make_project(session, lead, annotators=[ann]).id
    server = start_server(
        tmp_path / "data",
        args=["--workers", "2"],
        env={"EYEBALL_DATABASE_URL": url, "EYEBALL_SECRET_KEY": "k" * 40},
    )
    try:
        # Several subscribers, so that both workers hold some of them.
        with (
            listening(signed_in(server.base_url, "ann"), project_id) as first,
            listening(signed_in(server.base_url, "lead"), project_id) as second,
            listening(signed_in(server.base_url, "ann"), project_id) as third,
            listening(signed_in(server.base_url, "lead"), project_id) as fourth,
        ):
            # Committed by this test process, which is not a worker at all.
            with database.transaction() as session:
                create_cause(
                    session, get_access(session, _user(session, "lead"), project_id), "dog"
                )
            for events in (first, second, third, fourth):
                assert next_event(events, "cause")["name"] == "dog"
            with database.transaction() as session:
                create_cause(
                    session, get_access(session, _user(session, "lead"), project_id), "never"
                )
                session.rollback()
            with pytest.raises(AssertionError, match="no 'cause' event"):
                next_event(first, "cause", within=0.5)
    finally:
        server.stop()
        database.dispose()


def test_a_stream_closes_when_its_user_is_removed_from_the_project(tmp_path: Path) -> None:
    from app.domain.projects.team import remove_member

    with (
        sqlite_server(tmp_path) as (base, database, project_id),
        listening(signed_in(base, "ann"), project_id) as events,
    ):
        with database.transaction() as session:
            lead = get_access(session, _user(session, "lead"), project_id)
            remove_member(session, lead, _user(session, "ann").id)
        next_event(events, "ended")
        # The stream is over: a change made now reaches no one.
        with database.transaction() as session:
            live.announce(session, project_id, "cause", cause=5, name="dark")
        with pytest.raises(AssertionError, match="no 'cause' event"):
            next_event(events, "cause", within=0.3)


def test_a_stream_closes_when_its_user_is_deactivated(tmp_path: Path) -> None:
    from app.domain.accounts.admin import set_active

    with sqlite_server(tmp_path) as (base, database, project_id):
        with database.transaction() as session:
            make_user(session, "root", admin=True)
        with listening(signed_in(base, "ann"), project_id) as events:
            with database.transaction() as session:
                set_active(session, _user(session, "root"), _user(session, "ann").id, active=False)
            next_event(events, "ended")


def test_a_stream_sends_nothing_after_its_sign_in_ended_elsewhere(tmp_path: Path) -> None:
    """The check before each event holds even with no `access` announcement (an admin who
    is not on the team, whose streams are not told)."""
    with sqlite_server(tmp_path) as (base, database, project_id):
        with database.transaction() as session:
            make_user(session, "root", admin=True)
        with listening(signed_in(base, "root"), project_id) as events:
            with database.transaction() as session:
                _user(session, "root").session_epoch += 1
            with database.transaction() as session:
                live.announce(session, project_id, "cause", cause=5, name="dark")
            next_event(events, "ended")
