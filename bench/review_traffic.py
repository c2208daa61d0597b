"""What a browser sends on the review screen, shared by the benchmarks that simulate
annotators (`annotate_bench.py`, `soak.py`), and the figures they keep.

One error on the review screen is this sequence of requests:

    next    GET  /projects/1/review                 (claims an error, 303 to it)
    page    GET  /projects/1/runs/<run>/errors/<id>  (the review screen)
    toggle  POST .../annotation/<id>                 (1-3 times: a cause key pressed)
    done    POST .../annotation/<id> advance=next    (done, claims the next error)

After `done` the annotator opens the page it was sent to, as the browser does.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2 as httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PASSWORD = "bench password 123"
POSTGRES_ADMIN_URL = os.environ.get(
    "EYEBALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Results:
    """Latency per request kind; `errors` counts answers other than the expected one,
    `failures` the 5xx answers and broken connections among them (status None)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, ok: bool, status: int | None = 200) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
            if status is None or status >= 500:
                self.failures[kind] += 1


@dataclass(frozen=True)
class Save:
    """A save the server acknowledged: the annotation it names and what it holds now.

    A toggle's answer carries the annotation's new `version`; a finishing save answers
    204 without a body, so it records the version it was sent with (`after`): the stored
    one must then be newer."""

    username: str
    run: str
    external_id: str
    causes: tuple[str, ...]
    done: bool
    version: int | None = None
    after: int | None = None


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def sign_in(base: str, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    response = client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrftoken": token.group(1), "next": "/"},
    )
    assert response.status_code == 303, response.text
    return client


def cause_ids_on_page(client: httpx.Client, project_id: int) -> list[str]:
    response = client.get(f"/projects/{project_id}/review", follow_redirects=True)
    return re.findall(r'name="cause" value="(\d+)"', response.text)


def csrf_of(page: str) -> str:
    found = re.search(r"hx-headers='([^']+)'", page)
    assert found is not None, "no CSRF token on the page"
    return str(json.loads(found.group(1))["x-csrftoken"])


def version_of(fragment: str) -> str | None:
    found = re.search(r'name="version"[^>]*value="(\d+)"', fragment)
    return found.group(1) if found else None


class Annotator:
    """One signed-in annotator going through the queue as the review screen does.

    `pause()` is called between two actions (a person reading, pressing a key); each
    acknowledged save is passed to `saved`."""

    def __init__(
        self,
        client: httpx.Client,
        username: str,
        project_id: int,
        cause_ids: list[str],
        results: Results,
        seed: int,
        *,
        pause: Callable[[], None] = lambda: None,
        saved: Callable[[Save], None] = lambda save: None,
    ) -> None:
        self.client = client
        self.username = username
        self.project_id = project_id
        self.cause_ids = cause_ids
        self.results = results
        self.rng = random.Random(seed)
        self.pause = pause
        self.saved = saved
        self.url: str | None = None
        self.finished = 0

    def _timed(
        self, kind: str, expected: int, send: Callable[[], httpx.Response]
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = send()
        except httpx.HTTPError:
            self.results.record(kind, time.perf_counter() - started, ok=False, status=None)
            raise
        ok = response.status_code == expected
        self.results.record(kind, time.perf_counter() - started, ok, response.status_code)
        return response

    def next(self) -> bool:
        """Ask the queue for an error; False when it has none for this annotator."""
        response = self._timed(
            "next", 303, lambda: self.client.get(f"/projects/{self.project_id}/review")
        )
        self.url = response.headers.get("location")
        return self.url is not None

    def review_one(self) -> bool:
        """Open the error at hand, toggle 1-3 causes, finish it. False when the queue
        gave nothing to open next (or a page failed): call `next` again."""
        url = self.url
        if not url:
            return False
        page = self._timed("page", 200, lambda: self.client.get(url))
        if page.status_code != 200:
            self.url = None
            return False
        token = csrf_of(page.text)
        version = version_of(page.text)
        assert version is not None, "no version on the review screen"
        run, _, external_id = url.partition("/runs/")[2].partition("/errors/")
        save_url = url.replace("/errors/", "/annotation/")
        headers = {"x-csrftoken": token, "HX-Request": "true"}
        chosen: list[str] = []
        for cause in self.rng.sample(self.cause_ids, self.rng.randint(1, 3)):
            self.pause()
            chosen.append(cause)
            body = {"version": version, "cause": list(chosen)}
            saved = self._timed(
                "toggle",
                200,
                lambda body=body: self.client.post(save_url, data=body, headers=headers),
            )
            found = version_of(saved.text)
            if found:
                version = found
            if saved.status_code == 200 and found:
                self.saved(
                    Save(self.username, run, external_id, tuple(chosen), False, version=int(found))
                )
        self.pause()
        body = {"version": version, "cause": chosen, "status": "done", "advance": "next"}
        done = self._timed(
            "done", 204, lambda: self.client.post(save_url, data=body, headers=headers)
        )
        if done.status_code == 204:
            self.finished += 1
            self.saved(
                Save(self.username, run, external_id, tuple(chosen), True, after=int(version))
            )
        following = done.headers.get("hx-redirect")
        self.url = following if following and "/errors/" in following else None
        return self.url is not None


def postgres_database() -> tuple[str, str]:
    """A new empty database on the test PostgreSQL server: its name and URL."""
    name = f"eyeball_bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
        hide_password=False
    )


def drop_postgres(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
