"""How fast the sheet stays as the run grows: 1,000 and 10,000 errors × 30 causes × 3
annotators, and a page of a 200,000-error run (issue 12's targets).

Times, on SQLite and (when reachable) PostgreSQL, median of 5 after a warm-up:
  - the tally (the footer: a run's header and its aggregates; domain functions only);
  - a sheet page (50 rows + footer), the same filtered and sorted (by one metadata
    value, whose footer is stored; and by two filters, whose footer sums its slice),
    the dashboard and `GET /api/v1/.../errors?limit=200`, over real HTTP from a running
    server;
  - save → the lead's row changed: from a committed save to a subscribed client holding
    the answer of `GET .../sheet/live` that the event makes the page ask for;
  - a save's own time (`annotations.save`, verdict refresh included, committed);
  - with `--large N`: a sheet page of an N-error run, and the memory the CSV and xlsx
    downloads of that run allocate at their peak (tracemalloc).

    .venv/bin/python bench/tally_bench.py [--sizes 1000,10000] [--large 200000]

PostgreSQL is taken from EYEBALL_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432);
a scratch database is created and dropped. Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live_server import free_port

from app import models, schema
from app.config import Settings
from app.db import Database
from app.domain import verdicts
from app.domain.accounts.users import create_token, create_user, get_user_by_username
from app.domain.analysis.sheet import load_run
from app.domain.analysis.sheet_export import sheet_csv, sheet_xlsx
from app.domain.analysis.views import Filters, Sort, open_slice, tally
from app.domain.projects.access import get_access
from app.domain.projects.settings import create_project
from app.domain.projects.team import add_member
from app.domain.review.annotations import Draft, save
from app.domain.review.visibility import everything
from app.main import create_app
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    CauseGroup,
    Prediction,
    ProjectRole,
    Run,
    Sample,
    SampleKind,
    utcnow,
)

PASSWORD = "bench password 123"
POSTGRES_ADMIN_URL = os.environ.get(
    "EYEBALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def build(database: Database, errors: int, causes: int, annotators: int) -> tuple[int, int]:
    """A project and run with every error finished by every annotator. Returns ids."""
    rng = random.Random(1)
    with database.transaction() as session:
        lead = create_user(session, "lead", PASSWORD)
        people = [create_user(session, f"ann{i}", PASSWORD) for i in range(annotators)]
        project = create_project(
            session, lead, name="Bench", kind=SampleKind.TEXT, overlap=annotators
        )
        for person in people:
            add_member(session, project, person, ProjectRole.ANNOTATOR)
        group = session.scalars(select(CauseGroup).where(CauseGroup.project_id == project.id)).one()
        cause_rows = [
            Cause(project_id=project.id, group_id=group.id, name=f"cause {i:02}", position=i)
            for i in range(causes)
        ]
        session.add_all(cause_rows)
        run = Run(project_id=project.id, name="v1", evaluated=errors * 10)
        session.add(run)
        session.flush()
        cause_ids = [c.id for c in cause_rows]
        session.execute(
            insert(Sample),
            [
                {
                    "project_id": project.id,
                    "external_id": f"s{i:05}",
                    "label": str(i % 10),
                    "text": f"sample number {i} " * 5,
                    "meta": {"time": "night" if i % 3 else "day"},
                }
                for i in range(errors)
            ],
        )
        samples = session.execute(
            select(Sample.id, Sample.label).where(Sample.project_id == project.id)
        ).all()
        session.execute(
            insert(Prediction),
            [
                {
                    "project_id": project.id,
                    "run_id": run.id,
                    "sample_id": s.id,
                    "label": str((int(s.label) + 1) % 10),
                    "confidence": rng.random(),
                    "is_error": True,
                    "in_review": True,
                    "review_order": n,
                }
                for n, s in enumerate(samples)
            ],
        )
        predictions = list(
            session.scalars(select(Prediction.id).where(Prediction.run_id == run.id))
        )
        now = utcnow()
        session.execute(
            insert(Annotation),
            [
                {
                    "project_id": project.id,
                    "prediction_id": p,
                    "annotator_id": person.id,
                    "kind": AnnotationKind.REVIEW,
                    "status": AnnotationStatus.DONE,
                    "label_error": rng.random() < 0.08,
                    "note": "",
                    "version": 1,
                    # At a team's steady pace (one review each per 20 s, the last just
                    # now), so the last hour holds as many at any run size.
                    "created_at": now - timedelta(seconds=20 * n),
                    "updated_at": now - timedelta(seconds=20 * n),
                }
                for n, p in enumerate(predictions)
                for person in people
            ],
        )
        annotation_ids = list(
            session.scalars(select(Annotation.id).where(Annotation.project_id == project.id))
        )
        session.execute(
            insert(AnnotationCause),
            [
                {"annotation_id": a, "cause_id": c}
                for a in annotation_ids
                for c in rng.sample(cause_ids, rng.choice([1, 1, 2, 3]))
            ],
        )
        # Written past annotations.save, as an import of finished reviews would be.
        verdicts.rebuild(session)
        verdicts.recount_reviews(session)
        verdicts.recount_errors(session)
        result = project.id, predictions[0]
    if database.engine.dialect.name == "postgresql":
        # Fresh statistics, as autovacuum gathers them soon after a bulk load: without
        # them the planner takes a table of 600,000 rows for an empty one.
        with database.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return result


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextmanager
def serving(database: Database, data_dir: Path, port: int | None = None) -> Iterator[str]:
    settings = Settings(data_dir=data_dir, secret_key="b" * 40)
    app = create_app(settings, database)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def signed_in(base_url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrftoken": token.group(1), "next": "/"},
    )
    return client


def live_delay(
    database: Database, base_url: str, project_id: int, prediction_id: int, kind: AnnotationKind
) -> tuple[float, float]:
    """(save's own time, save → changed row at a subscribed client) in milliseconds.

    The client listens to the project's events as the sheet does; on the save's event it
    asks `GET .../sheet/live` for that row and the footer, as eyeball.js does, and the
    delay ends when that answer is in."""
    client = signed_in(base_url, "lead")
    arrived: queue.Queue[float] = queue.Queue()
    subscribed = threading.Event()
    sheet = f"/projects/{project_id}/runs/latest/sheet"
    page = client.get(sheet).text
    shown = ",".join(re.findall(r'<tr id="error-(\d+)"', page))
    columns = ",".join(
        dict.fromkeys(re.findall(r'<th scope="col" class="cause[^"]*" data-cause="(\d+)"', page))
    )

    # The page's second connection, open before the save as a browser's is: a client
    # made on the event (an SSL context, a TCP connection) cost 40 ms of the delay here.
    other = httpx.Client(base_url=base_url, cookies=client.cookies)
    other.get(sheet).raise_for_status()

    def listen() -> None:
        with client.stream("GET", f"/projects/{project_id}/events", timeout=None) as response:
            name = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    if name == "subscribed":
                        subscribed.set()
                    elif name == "annotation":
                        changed = json.loads(line.split(":", 1)[1])["prediction"]
                        answer = other.get(
                            f"{sheet}/live?page=1&changed={changed}&shown={shown}"
                            f"&columns={columns}",
                            headers={"HX-Request": "true"},
                        )
                        assert f'id="error-{changed}"' in answer.text
                        arrived.put(time.perf_counter())
                        return

    threading.Thread(target=listen, daemon=True).start()
    subscribed.wait(timeout=30)
    start = time.perf_counter()
    with database.transaction() as session:
        lead = get_user_by_username(session, "lead")
        assert lead is not None
        prediction = session.get(Prediction, prediction_id)
        assert prediction is not None
        save(
            session,
            get_access(session, lead, project_id),
            prediction,
            Draft(status=AnnotationStatus.DONE),
            expected_version=0,
            kind=kind,
        )
    committed = time.perf_counter()
    delay = (arrived.get(timeout=60) - committed) * 1000
    other.close()
    client.close()
    return (committed - start) * 1000, delay


def median_live(
    database: Database, base: str, project_id: int, first: int, repeat: int = 5
) -> tuple[float, float]:
    """Saves of the first error: the lead's adjudication, then the lead's own review
    each time anew (a new annotation, so expected_version 0 holds)."""
    saves, delays = [], []
    kinds = [AnnotationKind.ADJUDICATION, AnnotationKind.REVIEW]
    for n in range(min(repeat, len(kinds))):
        own, delay = live_delay(database, base, project_id, first + n, kinds[n % 2])
        saves.append(own)
        delays.append(delay)
    for n in range(len(kinds), repeat):
        own, delay = live_delay(database, base, project_id, first + n, AnnotationKind.REVIEW)
        saves.append(own)
        delays.append(delay)
    return statistics.median(saves), statistics.median(delays)


def peak_mb(fn: Callable[[], object]) -> float:
    """The peak of memory allocated while `fn` runs, in MB (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def bench(
    name: str, url: str, errors: int, args: argparse.Namespace, data_dir: Path, *, large: bool
) -> dict[str, float]:
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    start = time.perf_counter()
    project_id, first = build(database, errors, args.causes, args.annotators)
    print(f"[{name} {errors:,}] built in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    with database.transaction() as session:
        lead = get_user_by_username(session, "lead")
        assert lead is not None
        token = create_token(session, lead, "bench").secret

    def footer() -> object:
        with database.reader() as session:
            project = session.get(models.Project, project_id)
            assert project is not None
            run = session.scalars(select(Run).where(Run.project_id == project_id)).one()
            return tally(session, load_run(session, project, run, seen_by=everything()))

    results: dict[str, float] = {}
    if not large:
        results["tally (footer)"] = timed(footer)
    with serving(database, data_dir, args.port) as base:
        client = signed_in(base, "lead")
        sheet = f"/projects/{project_id}/runs/latest/sheet"
        results["sheet page (50 rows + footer)"] = timed(
            lambda: client.get(sheet).raise_for_status()
        )
        if not large:
            # One metadata value: its footer is the facet's stored sums.
            results["sheet page, filtered + sorted"] = timed(
                lambda: client.get(
                    sheet + "?meta=time%3Dnight&sort=-confidence&page=10"
                ).raise_for_status()
            )
            # Two filters at once: no stored sums, the footer sums the slice (no target).
            results["sheet page, two filters + sorted"] = timed(
                lambda: client.get(
                    sheet + "?meta=time%3Dnight&prediction=1&sort=-confidence"
                ).raise_for_status()
            )
            results["dashboard"] = timed(
                lambda: client.get(
                    f"/projects/{project_id}/runs/latest/dashboard"
                ).raise_for_status()
            )
            api = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            results["GET .../errors?limit=200"] = timed(
                lambda: api.get(
                    f"/api/v1/projects/{project_id}/runs/latest/errors?limit=200"
                ).raise_for_status()
            )
            api.close()
            own, delay = median_live(database, base, project_id, first)
            results["a save (annotations.save, committed)"] = own
            results["save → lead's row changed (subscribed client)"] = delay
        client.close()
    if large and not args.skip_downloads:

        def download(write: Callable[[Any], object]) -> Callable[[], object]:
            def run() -> object:
                with database.reader() as session:
                    lead = get_user_by_username(session, "lead")
                    assert lead is not None
                    access = get_access(session, lead, project_id)
                    return write(open_slice(session, access, "latest", Filters(), Sort()))

            return run

        results["CSV download, peak MB allocated"] = peak_mb(download(sheet_csv))
        results["xlsx download, peak MB allocated"] = peak_mb(download(sheet_xlsx))
    database.dispose()
    print(f"[{name} {errors:,}] {json.dumps(results)}", file=sys.stderr)
    return results


def postgres_url() -> str | None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"eyeball_bench_{secrets.token_hex(4)}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable: bench SQLite only
        print(f"PostgreSQL skipped: {exc.__class__.__name__}", file=sys.stderr)
        return None
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="errors per run, comma-separated")
    parser.add_argument("--large", type=int, default=0, help="also a page of a run this big")
    parser.add_argument("--causes", type=int, default=30)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--skip-downloads", action="store_true", help="with --large: page only")
    # On a shared machine, the ports one was given (as import_bench.py's --port).
    parser.add_argument("--port", type=int, help="serve on this port (default: a free one)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    runs = [(n, False) for n in sizes] + ([(args.large, True)] if args.large else [])
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for errors, large in runs:
            folder = Path(tmp) / f"sqlite-{errors}"
            folder.mkdir()
            if not args.postgres_only:
                table[f"SQLite {errors:,}"] = bench(
                    "SQLite", f"sqlite:///{folder}/bench.db", errors, args, folder, large=large
                )
            url = None if args.sqlite_only else postgres_url()
            if url is not None:
                try:
                    folder = Path(tmp) / f"pg-{errors}"
                    folder.mkdir()
                    table[f"PostgreSQL {errors:,}"] = bench(
                        "PostgreSQL", url, errors, args, folder, large=large
                    )
                finally:
                    drop(url)
    columns = list(table)
    measures = list(dict.fromkeys(m for column in table.values() for m in column))
    print(
        f"\n× {args.causes} causes × {args.annotators} annotators (every error finished by "
        f"all); median of 5 after a warm-up, milliseconds (MB where it says so); "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.\n"
    )
    print("| measure | " + " | ".join(columns) + " |")
    print("| --- | " + " | ".join("---:" for _ in columns) + " |")
    for measure in measures:
        cells = " | ".join(
            f"{table[c][measure]:.0f}" if measure in table[c] else "" for c in columns
        )
        print(f"| {measure} | {cells} |")
    print(json.dumps(table), file=sys.stderr)


if __name__ == "__main__":
    main()
