"""How the review screen holds up under concurrent annotators (a benchmark, not a test).

Starts `eyeball serve --demo` in a subprocess on a free port (SQLite in a temporary
data folder, or a fresh PostgreSQL database), adds C annotators to the demo
project, and has each of them repeat the real request sequence of the review
screen for a number of errors:

    next    GET  /projects/1/review                 (claims an error, 303 to it)
    page    GET  /projects/1/runs/<run>/errors/<id>  (the review screen)
    toggle  POST .../annotation/<id>                 (1-3 times: a cause key pressed)
    done    POST .../annotation/<id> advance=next    (done, claims the next error)

After `done` the annotator opens the page it was sent to, as the browser does.
Prints p50/p95/p99 latency per request kind, throughput and errors.

    .venv/bin/python bench/annotate_bench.py                       # SQLite, C = 1, 8, 32
    .venv/bin/python bench/annotate_bench.py --postgres            # PostgreSQL as well
    .venv/bin/python bench/annotate_bench.py -c 8 --errors 20
    .venv/bin/python bench/annotate_bench.py --only-postgres -c 8 -c 32 --workers 1 --workers 3

Each level also prints the throughput and the p95 of all its requests together; with
several --workers values, each gets a fresh database and server, one after the other.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live_server import eyeball_serve  # noqa: E402
from review_traffic import (  # noqa: E402
    PASSWORD,
    Annotator,
    Results,
    cause_ids_on_page,
    drop_postgres,
    percentile,
    postgres_database,
    sign_in,
)

from app.db import Database  # noqa: E402
from app.domain.accounts.users import create_user  # noqa: E402
from app.domain.imports.demo import DEMO_PROJECT  # noqa: E402
from app.domain.projects.team import add_member  # noqa: E402
from app.models import Cause, Project, ProjectRole  # noqa: E402

KINDS = ("next", "page", "toggle", "done")


@contextmanager
def server(
    database_url: str | None, workers: int = 1, port: int | None = None
) -> Iterator[tuple[str, str]]:
    """A demo server (on `port`, else a free one); yields its base URL and its database URL."""
    with (
        tempfile.TemporaryDirectory(prefix="eyeball-bench-") as tmp,
        eyeball_serve(Path(tmp), database_url, demo=True, port=port, workers=workers) as (
            base,
            _,
        ),
    ):
        yield base, database_url or f"sqlite:///{(Path(tmp) / 'eyeball.db').resolve()}"


def prepare(database_url: str, annotators: int) -> tuple[int, list[str], list[str]]:
    """Bench annotators on the demo project, overlap high enough that nobody runs dry."""
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            project = session.scalars(select(Project).where(Project.name == DEMO_PROJECT)).one()
            project.overlap = max(annotators, 1)
            names = []
            for i in range(annotators):
                name = f"bench{i}"
                user = create_user(session, name, PASSWORD)
                add_member(session, project, user, ProjectRole.ANNOTATOR)
                names.append(name)
            keys = [
                str(k)
                for k in session.scalars(
                    select(Cause.id).where(Cause.project_id == project.id, Cause.key.is_not(None))
                )
            ]
            return project.id, names, keys
    finally:
        database.dispose()


def annotate(annotator: Annotator, errors: int, results: Results, seed: int) -> None:
    try:
        if not annotator.next():
            return
        while annotator.finished < errors and annotator.review_one():
            pass
    except httpx.HTTPError as exc:
        # A broken connection ends this annotator's run; it is counted (as an error of
        # the request it broke), not hidden.
        print(f"    annotator {seed}: {exc.__class__.__name__}: {exc}", file=sys.stderr)


def run_level(base: str, project_id: int, users: list[str], errors: int) -> None:
    signed_in = [sign_in(base, name) for name in users]
    causes = cause_ids_on_page(signed_in[0], project_id)
    # Fresh connections with the same cookies: signing everyone in takes a while, and
    # the server closes keep-alive connections that sat idle meanwhile.
    clients = []
    for client in signed_in:
        clients.append(httpx.Client(base_url=base, timeout=60, cookies=client.cookies))
        client.close()
    # That look claimed an error for the first annotator: it is theirs to do first anyway.
    results = Results()
    threads = [
        threading.Thread(
            target=annotate,
            args=(Annotator(client, name, project_id, causes, results, i), errors, results, i),
            daemon=True,
        )
        for i, (name, client) in enumerate(zip(users, clients, strict=True))
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    total = sum(len(v) for v in results.latencies.values())
    every = [
        v * 1000
        for kind, values in results.latencies.items()
        if kind != "transport"
        for v in values
    ]
    print(
        f"  C={len(users):<3} {total} requests in {elapsed:.1f}s = {total / elapsed:.1f} req/s, "
        f"p95 of all {percentile(every, 95):.1f} ms, {sum(results.errors.values())} errors"
    )
    for kind in KINDS:
        values = results.latencies.get(kind, [])
        if not values:
            continue
        ms = [v * 1000 for v in values]
        print(
            f"    {kind:<7} n={len(ms):<5} p50 {percentile(ms, 50):7.1f} ms  "
            f"p95 {percentile(ms, 95):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
            f"errors {results.errors.get(kind, 0)}"
        )


def bench(
    backend: str, levels: list[int], errors: int, workers: int = 1, port: int | None = None
) -> None:
    pg_name = None
    url = None
    if backend == "postgresql":
        pg_name, url = postgres_database()
    try:
        with server(url, workers, port) as (base, database_url):
            project_id, users, _ = prepare(database_url, sum(levels))
            print(f"{backend}: {errors} errors per annotator, {workers} worker process(es)")
            offset = 0
            for level in levels:
                # Fresh annotators for each level, so every level starts with full queues.
                run_level(base, project_id, users[offset : offset + level], errors)
                offset += level
    finally:
        if pg_name:
            drop_postgres(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "-c", "--concurrency", type=int, action="append", help="annotators (repeatable)"
    )
    parser.add_argument("--errors", type=int, default=10, help="errors each annotator finishes")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--only-postgres", action="store_true", help="run on PostgreSQL only")
    parser.add_argument(
        "--workers", type=int, action="append", help="server worker processes (repeatable)"
    )
    # On a shared machine, the ports one was given (as import_bench.py's --port).
    parser.add_argument("--port", type=int, help="serve on this port (default: a free one)")
    args = parser.parse_args()
    levels = args.concurrency or [1, 8, 32]
    backends = ["sqlite"] if not args.only_postgres else []
    if args.postgres or args.only_postgres:
        backends.append("postgresql")
    for backend in backends:
        for workers in args.workers or [1]:
            if workers > 1 and backend == "sqlite":
                print("sqlite: one worker only (several need PostgreSQL); skipped")
                continue
            bench(backend, levels, args.errors, workers, args.port)


if __name__ == "__main__":
    main()
