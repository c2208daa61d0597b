"""How fast the sheet stays with 10,000 errors × 30 causes × 3 annotators.

Times, on SQLite and (when reachable) PostgreSQL:
  - the tally: loading the run and computing the footer (domain functions only);
  - one spreadsheet page and the dashboard, over real HTTP from a running server;
  - the delay from a committed save to its event reaching a listening SSE client.

    .venv/bin/python bench/tally_bench.py [--errors 10000] [--causes 30] [--annotators 3]

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import uvicorn
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live_server import free_port

from app import schema
from app.config import Settings
from app.db import Database
from app.domain.accounts.users import create_user
from app.domain.analysis.sheet import load_run
from app.domain.analysis.views import tally
from app.domain.projects.access import get_access
from app.domain.projects.settings import create_project
from app.domain.projects.team import add_member
from app.domain.review.annotations import Draft, save
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
                    "created_at": now,
                    "updated_at": now,
                }
                for p in predictions
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
        return project.id, predictions[0]


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
def serving(database: Database, data_dir: Path) -> Iterator[str]:
    settings = Settings(data_dir=data_dir, secret_key="b" * 40)
    app = create_app(settings, database)
    port = free_port()
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


def event_delay(database: Database, base_url: str, project_id: int, prediction_id: int) -> float:
    """Milliseconds from a save's commit to its event arriving at a listening client."""
    client = signed_in(base_url, "lead")
    arrived: queue.Queue[float] = queue.Queue()
    subscribed = threading.Event()

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
                        arrived.put(time.perf_counter())
                        return

    threading.Thread(target=listen, daemon=True).start()
    subscribed.wait(timeout=30)
    with database.transaction() as session:
        from app.domain.accounts.users import get_user_by_username

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
            kind=AnnotationKind.ADJUDICATION,
        )
        session.flush()
    committed = time.perf_counter()
    delay = (arrived.get(timeout=30) - committed) * 1000
    client.close()
    return delay


def bench(name: str, url: str, args: argparse.Namespace, data_dir: Path) -> dict[str, float]:
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    start = time.perf_counter()
    project_id, first = build(database, args.errors, args.causes, args.annotators)
    built = time.perf_counter() - start
    print(f"[{name}] built in {built:.1f}s", file=sys.stderr)

    def footer() -> object:
        with database.reader() as session:
            from app.models import Project

            project = session.get(Project, project_id)
            assert project is not None
            run = session.scalars(select(Run).where(Run.project_id == project_id)).one()
            return tally(load_run(session, project, run))

    results = {"tally (load run + footer)": timed(footer)}
    with serving(database, data_dir) as base:
        client = signed_in(base, "lead")
        sheet = f"/projects/{project_id}/runs/latest/sheet"
        results["sheet page (HTTP, 50 rows + footer)"] = timed(
            lambda: client.get(sheet).raise_for_status()
        )
        results["sheet page, filtered + sorted"] = timed(
            lambda: client.get(
                sheet + "?meta=time%3Dnight&sort=-confidence&page=20"
            ).raise_for_status()
        )
        results["sheet fragment (live refresh)"] = timed(
            lambda: client.get(sheet, headers={"HX-Request": "true"}).raise_for_status()
        )
        results["dashboard (HTTP)"] = timed(
            lambda: client.get(f"/projects/{project_id}/runs/latest/dashboard").raise_for_status()
        )
        results["save → event at a listening client"] = event_delay(
            database, base, project_id, first
        )
        client.close()
    database.dispose()
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
    parser.add_argument("--errors", type=int, default=10_000)
    parser.add_argument("--causes", type=int, default=30)
    parser.add_argument("--annotators", type=int, default=3)
    args = parser.parse_args()
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        table["SQLite"] = bench("SQLite", f"sqlite:///{tmp}/bench.db", args, Path(tmp))
        url = postgres_url()
        if url is not None:
            try:
                table["PostgreSQL"] = bench("PostgreSQL", url, args, Path(tmp) / "pg")
            finally:
                drop(url)
    backends = list(table)
    print(
        f"\n{args.errors:,} errors × {args.causes} causes × {args.annotators} annotators; "
        f"median of 5 after a warm-up, milliseconds; {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs.\n"
    )
    print("| measure | " + " | ".join(backends) + " |")
    print("| --- | " + " | ".join("---:" for _ in backends) + " |")
    for measure in table[backends[0]]:
        cells = " | ".join(f"{table[b][measure]:.0f}" for b in backends)
        print(f"| {measure} | {cells} |")
    print(json.dumps(table), file=sys.stderr)


if __name__ == "__main__":
    main()
