"""Stream 200,000 annotations out of a real server and watch its memory stay flat.

    .venv/bin/python bench/export_bench.py [--annotations 200000] [--baseline 20000]
                                           [--annotators 4] [--causes 20] [--postgres]

Builds one project in a fresh database migrated by the Alembic revisions (SQLite file;
with --postgres also a scratch PostgreSQL database, from EYEBALL_TEST_POSTGRES_URL) with
bulk Core inserts: a `big` run with --annotations annotations (every error finished by
every annotator, 1-3 causes each), a `baseline` run with --baseline annotations and a
`tiny` run used to warm the server up. For each download a fresh `eyeball serve`
(uvicorn, one process) is started on a free port; after the warm-up its RSS is read,
then the export is downloaded streaming while a thread samples the server's RSS with
psutil every 5 ms. Prints rows/s and the peak RSS growth of each download; if memory is
constant, the big export grows the server no more than the baseline one (ratio ~1).
Not a timed test: the figures go into bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import psutil
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live_server import eyeball_serve  # noqa: E402

from app import schema  # noqa: E402
from app.db import Database  # noqa: E402
from app.domain.accounts.users import create_token, create_user  # noqa: E402
from app.domain.projects.settings import create_project  # noqa: E402
from app.domain.projects.team import add_member  # noqa: E402
from app.models import (  # noqa: E402
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
BATCH = 5_000  # errors per insert batch: the builder's own memory stays small too
NOTES = ["", "", "", "motion blur", 'label says "cat", looks like a fox', "dark, grainy"]


@dataclass(frozen=True)
class Built:
    project_id: int
    token: str


def build(database: Database, args: argparse.Namespace) -> Built:
    rng = random.Random(1)
    per_error = args.annotators
    big_errors = args.annotations // per_error
    with database.transaction() as session:
        lead = create_user(session, "lead", PASSWORD)
        people = [create_user(session, f"ann{i}", PASSWORD) for i in range(per_error)]
        project = create_project(
            session, lead, name="Bench", kind=SampleKind.TEXT, overlap=per_error
        )
        for person in people:
            add_member(session, project, person, ProjectRole.ANNOTATOR)
        group = session.scalars(select(CauseGroup).where(CauseGroup.project_id == project.id)).one()
        causes = [
            Cause(project_id=project.id, group_id=group.id, name=f"cause {i:02}", position=i)
            for i in range(args.causes)
        ]
        session.add_all(causes)
        session.flush()
        cause_ids = [c.id for c in causes]
        people_ids = [p.id for p in people]
        project_id = project.id
        token = create_token(session, lead, "bench").secret

        # The eyeball set: one sample per error of the big run; smaller runs reuse a prefix.
        sample_ids: list[int] = []
        for start in range(0, big_errors, BATCH):
            rows = [
                {
                    "project_id": project_id,
                    "external_id": f"s{i:07}",
                    "label": str(i % 10),
                    "text": f"sample number {i}",
                    "meta": {"source": "phone" if i % 3 else "scan"},
                }
                for i in range(start, min(start + BATCH, big_errors))
            ]
            sample_ids += session.scalars(
                insert(Sample).returning(Sample.id, sort_by_parameter_order=True), rows
            ).all()

        for name, errors in (
            ("tiny", 10),
            ("baseline", args.baseline // per_error),
            ("big", big_errors),
        ):
            run = Run(project_id=project_id, name=name, evaluated=errors * 10)
            session.add(run)
            session.flush()
            now = utcnow()
            for start in range(0, errors, BATCH):
                batch = range(start, min(start + BATCH, errors))
                prediction_ids = session.scalars(
                    insert(Prediction).returning(Prediction.id, sort_by_parameter_order=True),
                    [
                        {
                            "project_id": project_id,
                            "run_id": run.id,
                            "sample_id": sample_ids[i],
                            "label": str((i + 1) % 10),
                            "confidence": round(rng.random(), 4),
                            "is_error": True,
                            "in_review": True,
                            "review_order": i,
                        }
                        for i in batch
                    ],
                ).all()
                annotation_ids = session.scalars(
                    insert(Annotation).returning(Annotation.id, sort_by_parameter_order=True),
                    [
                        {
                            "project_id": project_id,
                            "prediction_id": p,
                            "annotator_id": person,
                            "kind": AnnotationKind.REVIEW,
                            "status": AnnotationStatus.DONE,
                            "label_error": rng.random() < 0.08,
                            "note": rng.choice(NOTES),
                            "version": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for p in prediction_ids
                        for person in people_ids
                    ],
                ).all()
                session.execute(
                    insert(AnnotationCause),
                    [
                        {"annotation_id": a, "cause_id": c}
                        for a in annotation_ids
                        for c in rng.sample(cause_ids, rng.choice([1, 1, 2, 3]))
                    ],
                )
            print(f"  run {name}: {errors:,} errors, {errors * per_error:,} annotations")
    return Built(project_id, token)


@contextmanager
def server(url: str, data_dir: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A fresh `eyeball serve` (one process) on a free port."""
    with eyeball_serve(data_dir, url) as (base, process):
        yield base, psutil.Process(process.pid)


class PeakRss:
    """The highest RSS of a process while the block runs, sampled every 5 ms."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


@dataclass(frozen=True)
class Download:
    label: str
    rows: int
    megabytes: float
    seconds: float
    rss_before: float  # MiB
    growth: float  # MiB, peak during the download minus before

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def download(
    url: str, data_dir: Path, built: Built, label: str, run: str, fmt: str, consensus: bool
) -> Download:
    headers = {"Authorization": f"Bearer {built.token}"}
    params = {"consensus": "true"} if consensus else {}
    path = f"/api/v1/projects/{built.project_id}/runs/{{run}}/annotations.{fmt}"
    with (
        server(url, data_dir) as (base, process),
        httpx.Client(base_url=base, headers=headers, timeout=600) as client,
    ):
        # Warm-up: the same code path on a tiny run, so imports and caches are in.
        for _ in range(2):
            client.get(path.format(run="tiny"), params=params).raise_for_status()
        before = process.memory_info().rss
        lines = size = 0
        with PeakRss(process) as peak:
            started = time.perf_counter()
            with client.stream("GET", path.format(run=run), params=params) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            seconds = time.perf_counter() - started
    # Lines that are not rows: the CSV header; the JSON array's opening and closing lines.
    rows = lines - {"csv": 1, "jsonl": 0, "json": 2}[fmt]
    mib = 2**20
    result = Download(label, rows, size / mib, seconds, before / mib, (peak.peak - before) / mib)
    print(
        f"  {label}: {rows:,} rows, {result.megabytes:.1f} MiB in {seconds:.1f}s "
        f"= {result.rows_per_second:,.0f} rows/s; server RSS {result.rss_before:.0f} MiB "
        f"before, peak growth {result.growth:.1f} MiB",
        flush=True,
    )
    return result


def bench(name: str, url: str, args: argparse.Namespace, data_dir: Path) -> list[Download]:
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    started = time.perf_counter()
    print(f"[{name}] building", flush=True)
    built = build(database, args)
    database.dispose()
    print(f"[{name}] built in {time.perf_counter() - started:.0f}s", flush=True)
    plan = [
        (f"baseline csv ({args.baseline:,} annotations)", "baseline", "csv", False),
        (f"big csv ({args.annotations:,} annotations)", "big", "csv", False),
        ("big csv, consensus=true (one row per error)", "big", "csv", True),
        ("big jsonl", "big", "jsonl", False),
        ("big json", "big", "json", False),
    ]
    return [download(url, data_dir, built, *step) for step in plan]


def postgres_url() -> str:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"eyeball_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def table(name: str, results: list[Download]) -> None:
    baseline = results[0].growth
    print(f"\n{name}\n")
    print("| download | rows | MiB | seconds | rows/s | RSS before (MiB) | peak growth (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.label} | {r.rows:,} | {r.megabytes:.1f} | {r.seconds:.1f} | "
            f"{r.rows_per_second:,.0f} | {r.rss_before:.0f} | {r.growth:.1f} |"
        )
    big = results[1].growth
    ratio = big / baseline if baseline > 0 else float("nan")
    print(f"\nbig csv growth / baseline csv growth = {ratio:.2f} (10× the rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=200_000)
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument("--annotators", type=int, default=4)
    parser.add_argument("--causes", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="eyeball-export-bench-") as tmp:
        folder = Path(tmp)
        results = {
            "SQLite": bench("SQLite", f"sqlite:///{folder / 'bench.db'}", args, folder / "sqlite")
        }
        if args.postgres:
            url = postgres_url()
            try:
                results["PostgreSQL"] = bench("PostgreSQL", url, args, folder / "pg")
            finally:
                drop(url)
    for name, rows in results.items():
        table(name, rows)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
