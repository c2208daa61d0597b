"""Import N rows through the REST endpoints of a real server (issue 13's import targets).

    .venv/bin/python bench/import_bench.py [--mode image] [--rows 10000] [--postgres [URL]]
    .venv/bin/python bench/import_bench.py --mode text [--batch 1000]
    .venv/bin/python bench/import_bench.py --mode record [--batch 1000]
    .venv/bin/python bench/import_bench.py --mode push [--batch 1000]
    .venv/bin/python bench/import_bench.py --mode image --saves 4 [--save-pause 0.5] [--alone 10]

Modes, each on a project of its kind (labels 0-9, --error-rate of the rows wrong):
  - image: a CSV manifest and a zip of distinct 32×32 PNGs, `POST .../import`; then the
    same files again (nothing new; the same zip, so no image is read again);
  - text: a CSV manifest (id, label, prediction, confidence, text and a `source`
    metadata column), `POST .../import` in one request or, with --batch K, in requests
    of K rows into the same run;
  - record: the same as text with a JSONL manifest whose `record` is a JSON object;
  - push: the samples as JSON, `POST .../runs/{run}/predictions`, --batch samples per
    request (default 1,000) into the same run.

Starts `eyeball serve` on a free port with a temporary data folder (SQLite), or with
--postgres on a scratch database created on that PostgreSQL server and dropped after
(URL default: EYEBALL_TEST_POSTGRES_URL, else postgres@127.0.0.1:5432). Every request
body is built before the clock starts, so rows/s runs from the first request sent to
the last answer. Prints one Markdown table row per measurement: rows/s, the server
process's CPU time and its peak memory growth since start-up (VmHWM from /proc: Linux
only; a high-water mark, so a second step shows the larger of the two; PostgreSQL's own
processes are not counted), and the load average.
Not a timed test: the figures go into bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live_server import eyeball_serve  # noqa: E402

from app.db import Database  # noqa: E402
from app.domain.accounts.users import create_token, create_user  # noqa: E402
from app.domain.projects.access import get_access  # noqa: E402
from app.domain.projects.causes import create_cause  # noqa: E402
from app.domain.projects.settings import create_project  # noqa: E402
from app.domain.projects.team import add_member  # noqa: E402
from app.models import ProjectRole, SampleKind  # noqa: E402

LABELS = [str(d) for d in range(10)]
MODES = {
    "image": SampleKind.IMAGE,
    "text": SampleKind.TEXT,
    "record": SampleKind.RECORD,
    "push": SampleKind.TEXT,
}
PUSH_BATCH = 1_000
IMAGE_SIDE = 32
RUN = "bench-v1"
# Every request asks for a review sample, as the method does: that part of the
# import (choosing and ordering the sample) is then timed too.
REVIEW = {"sample_errors": 100, "seed": 1}
POSTGRES_SERVER_URL = os.environ.get(
    "EYEBALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Commas and quotes among them, so the CSV has quoted cells as real texts do.
PHRASES = [
    "a blurry photo of",
    "the cat",
    "a street sign",
    "at night,",
    'with "glare"',
    "in the rain, partly hidden",
    "by a tree",
    "turn left",
]
CITIES = ["Lyon", "Oslo", "Porto", "Kraków", "Gent", "Turku", "Graz", "Cork"]


@dataclass(frozen=True)
class Post:
    """One request, its body ready to send."""

    path: str  # under /api/v1/projects/{id}
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    json_body: bytes | None = None


@dataclass(frozen=True)
class Step:
    """What one measurement sends: all its requests, one after the other."""

    label: str
    rows: int
    posts: list[Post]


@dataclass(frozen=True)
class Measurement:
    mode: str
    database: str
    label: str
    rows: int
    requests: int
    seconds: float
    cpu_seconds: float  # the server process's, user + system
    growth_mib: float  # VmHWM after the step minus VmHWM after start-up
    samples_created: int
    error_rate: float | None  # the run's, as the last answer gives it

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def make_rows(rows: int, error_rate: float, kind: SampleKind) -> list[dict[str, Any]]:
    """The samples as a notebook would hold them; the media column is the kind's."""
    rng = random.Random(1)
    out = []
    for i in range(rows):
        label = rng.choice(LABELS)
        wrong = rng.random() < error_rate
        row: dict[str, Any] = {
            "id": f"s{i:06d}",
            "label": label,
            "prediction": rng.choice([x for x in LABELS if x != label]) if wrong else label,
            "confidence": round(rng.random(), 4),
        }
        if kind is SampleKind.TEXT:
            row["text"] = " ".join(rng.choices(PHRASES, k=rng.randint(3, 12)))
        elif kind is SampleKind.RECORD:
            row["record"] = {
                "age": rng.randint(18, 90),
                "income": round(rng.uniform(1e4, 2e5), 2),
                "city": rng.choice(CITIES),
                "visits": [rng.randint(0, 9) for _ in range(rng.randint(0, 5))],
            }
        row["source"] = "scan" if i % 3 else "phone"
        out.append(row)
    return out


def batches(rows: list[dict[str, Any]], size: int | None) -> Iterator[list[dict[str, Any]]]:
    size = size or len(rows)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def csv_manifest(rows: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def jsonl_manifest(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def png_zip(rows: list[dict[str, Any]]) -> bytes:
    """A zip of one distinct PNG of noise per row; sets each row's `image` path."""
    rng = random.Random(2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for row in rows:
            name = f"images/{row['id']}.png"
            pixels = Image.frombytes(
                "L", (IMAGE_SIDE, IMAGE_SIDE), rng.randbytes(IMAGE_SIDE * IMAGE_SIDE)
            )
            png = io.BytesIO()
            pixels.save(png, format="PNG")
            z.writestr(name, png.getvalue())
            row["image"] = name
    return out.getvalue()


def import_post(name: str, manifest: bytes, images: bytes | None = None) -> Post:
    files = {"manifest": (name, manifest)}
    if images is not None:
        files["images"] = ("images.zip", images)
    return Post("/import", files, {"run": RUN, **{k: str(v) for k, v in REVIEW.items()}})


def plan(mode: str, rows: list[dict[str, Any]], batch: int | None) -> list[Step]:
    count = len(rows)
    if mode == "image":
        zipped = png_zip(rows)
        print(f"  zip of {count:,} {IMAGE_SIDE}×{IMAGE_SIDE} PNGs: {len(zipped) / 2**20:.1f} MiB")
        post = import_post("manifest.csv", csv_manifest(rows), zipped)
        return [Step("first import", count, [post]), Step("same files again", count, [post])]
    if mode == "push":
        size = batch or PUSH_BATCH
        posts = [
            Post(
                f"/runs/{RUN}/predictions", json_body=json.dumps({"samples": b, **REVIEW}).encode()
            )
            for b in batches(rows, size)
        ]
        return [Step(f"batches of {size:,}", count, posts)]
    if mode == "text":
        posts = [import_post("manifest.csv", csv_manifest(b)) for b in batches(rows, batch)]
    else:
        posts = [import_post("manifest.jsonl", jsonl_manifest(b)) for b in batches(rows, batch)]
    label = f"batches of {batch:,}" if batch else "one request"
    return [Step(label, count, posts)]


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    # On a shared machine the wall time includes waiting for a core; the process's own
    # CPU time says how much of it was the server's work.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """The URL of a new empty database on that server, dropped when the block ends."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"eyeball_import_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def measure(
    client: httpx.Client, pid: int, idle_mib: float, step: Step, mode: str, database: str
) -> Measurement:
    cpu_before = cpu_seconds(pid)
    created = 0
    body: dict[str, Any] = {}
    started = time.perf_counter()
    for post in step.posts:
        if post.json_body is not None:
            response = client.post(
                post.path, content=post.json_body, headers={"Content-Type": "application/json"}
            )
        else:
            response = client.post(post.path, files=post.files, data=post.data)
        if response.is_error:
            raise SystemExit(f"{post.path}: {response.status_code} {response.text[:2000]}")
        body = response.json()
        created += body["samples_created"]
    seconds = time.perf_counter() - started
    result = Measurement(
        mode=mode,
        database=database,
        label=step.label,
        rows=step.rows,
        requests=len(step.posts),
        seconds=seconds,
        cpu_seconds=cpu_seconds(pid) - cpu_before,
        growth_mib=peak_memory_mib(pid) - idle_mib,
        samples_created=created,
        error_rate=body["error_rate"],
    )
    print(
        f"  {step.label}: {step.rows:,} rows in {len(step.posts)} request(s), {seconds:.1f}s "
        f"= {result.rows_per_second:,.0f} rows/s; server CPU {result.cpu_seconds:.1f}s; "
        f"created {created:,} samples; run {body['errors']:,} errors, "
        f"{body['queued_for_review']} queued by the last request",
        flush=True,
    )
    if phases := body.get("phases"):
        print(
            "    last request's phases: "
            + ", ".join(f"{p['phase']} {p['seconds'] * 1000:.0f} ms" for p in phases),
            flush=True,
        )
    return result


class Savers:
    """Annotators saving through the API (`PUT .../annotation`, a cause toggled each
    time) on another project of the same server while an import runs: their latency
    and how many saves were refused."""

    ERRORS = 200

    def __init__(self, base: str, database: Database, count: int, pause: float = 0.0) -> None:
        self.base = base
        self.pause = pause
        self.latencies: list[float] = []
        self.refused = 0
        self.stop = threading.Event()
        self.warm = threading.Barrier(count + 1)
        self.lock = threading.Lock()
        with database.transaction() as session:
            lead = create_user(session, "saves-lead", "a long password")
            project = create_project(session, lead, name="Saves", kind=SampleKind.TEXT)
            self.project_id = project.id
            lead_token = create_token(session, lead, "bench").secret
            self.tokens = []
            for i in range(count):
                person = create_user(session, f"saver{i}", "a long password")
                add_member(session, project, person, ProjectRole.ANNOTATOR)
                self.tokens.append(create_token(session, person, "bench").secret)
            for name in ("blurry", "dark"):
                create_cause(session, get_access(session, lead, project.id), name)
        rows = [
            {"id": f"e{i:04d}", "label": "cat", "prediction": "dog", "text": f"error {i}"}
            for i in range(self.ERRORS)
        ]
        answer = httpx.post(
            f"{base}/api/v1/projects/{self.project_id}/import",
            headers={"Authorization": f"Bearer {lead_token}"},
            files={"manifest": ("saves.csv", csv_manifest(rows), "text/csv")},
            data={"run": "saves", "evaluated": str(self.ERRORS * 10)},
            timeout=120,
        )
        answer.raise_for_status()
        self.threads: list[threading.Thread] = []
        # Each annotator's versions, kept from one import to the next.
        self.versions: list[dict[int, int]] = [{} for _ in self.tokens]

    def __enter__(self) -> Savers:
        """Start the annotators and return once each has saved once: people are at work
        when an import starts, their browsers' connections open and their sessions
        known. (Timing each one's first save of the run, a new connection and a first
        look at its token, beside the upload's first moments, put four saves over
        100 ms in every run whatever the import did: the p95 of 40 saves.)"""
        self.stop.clear()
        self.warm = threading.Barrier(len(self.tokens) + 1)
        self.threads = [
            threading.Thread(target=self._save, args=(i, token), daemon=True)
            for i, token in enumerate(self.tokens)
        ]
        for thread in self.threads:
            thread.start()
        self.warm.wait(timeout=120)
        with self.lock:
            self.latencies.clear()
            self.refused = 0
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _save(self, seat: int, token: str) -> None:
        versions = self.versions[seat]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            turn = 0
            while not self.stop.is_set():
                error = (seat * 37 + turn) % self.ERRORS
                causes = ["blurry"] if turn % 2 else ["blurry", "dark"]
                started = time.perf_counter()
                answer = client.put(
                    f"{self.base}/api/v1/projects/{self.project_id}/runs/saves/errors/"
                    f"e{error:04d}/annotation",
                    json={"causes": causes, "version": versions.get(error, 0)},
                )
                took = time.perf_counter() - started
                with self.lock:
                    self.latencies.append(took)
                    if answer.is_error:
                        self.refused += 1
                if not answer.is_error:
                    versions[error] = answer.json()["version"]
                if turn == 0:
                    self.warm.wait(timeout=120)
                turn += 1
                if self.pause:
                    self.stop.wait(self.pause)

    def summary(self) -> str:
        if not self.latencies:
            return "no saves were made"
        ms = sorted(1000 * t for t in self.latencies)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        return (
            f"{len(ms):,} saves by {len(self.tokens)} annotators: "
            f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms, "
            f"{self.refused} refused"
        )


def bench(args: argparse.Namespace, data_dir: Path, postgres_url: str | None) -> list[Measurement]:
    kind = MODES[args.mode]
    started = time.perf_counter()
    rows = make_rows(args.rows, args.error_rate, kind)
    steps = plan(args.mode, rows, args.batch)
    print(f"  built {args.rows:,} rows in {time.perf_counter() - started:.1f}s", flush=True)
    database_name = "PostgreSQL" if postgres_url else "SQLite"
    url = postgres_url or f"sqlite:///{data_dir / 'eyeball.db'}"
    with eyeball_serve(data_dir, postgres_url, port=args.port) as (base, server):
        database = Database.from_url(url)
        with database.transaction() as session:
            lead = create_user(session, "bench", "a long password")
            project = create_project(session, lead, name="Bench", kind=kind, labels=LABELS)
            project_id = project.id
            token = create_token(session, lead, "bench").secret
        savers = Savers(base, database, args.saves, args.save_pause) if args.saves else None
        database.dispose()
        idle = peak_memory_mib(server.pid)
        print(f"  server VmHWM after start-up: {idle:.0f} MiB", flush=True)
        with httpx.Client(
            base_url=f"{base}/api/v1/projects/{project_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=900,
        ) as client:
            results = []
            if savers is not None and args.alone > 0:
                # The same saves with no import running: what this machine gives them.
                with savers:
                    time.sleep(args.alone)
                print(f"  no import, {args.alone:.0f} s: {savers.summary()}", flush=True)
                savers.latencies.clear()
            for step in steps:
                if savers is None:
                    results.append(
                        measure(client, server.pid, idle, step, args.mode, database_name)
                    )
                    continue
                with savers:
                    results.append(
                        measure(client, server.pid, idle, step, args.mode, database_name)
                    )
                print(f"  {step.label}: {savers.summary()}", flush=True)
                savers.latencies.clear()
                savers.refused = 0
            return results


def table(results: list[Measurement]) -> None:
    print(
        "\n| mode | database | run | rows | requests | seconds | rows/s | server CPU (s) "
        "| peak memory growth (MiB) | samples created | run error rate |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        rate = f"{r.error_rate:.3f}" if r.error_rate is not None else "unknown"
        print(
            f"| {r.mode} | {r.database} | {r.label} | {r.rows:,} | {r.requests} | "
            f"{r.seconds:.1f} | {r.rows_per_second:,.0f} | {r.cpu_seconds:.1f} | "
            f"{r.growth_mib:.0f} | {r.samples_created:,} | {rate} |"
        )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=list(MODES), default="image")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--saves",
        type=int,
        default=0,
        help="annotators saving on another project of the server during each import",
    )
    parser.add_argument(
        "--save-pause",
        type=float,
        default=0.0,
        help="seconds each annotator waits between saves (default 0: a tight loop)",
    )
    parser.add_argument(
        "--alone",
        type=float,
        default=10.0,
        help="with --saves: seconds of the same saves before any import, for comparison",
    )
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument(
        "--batch",
        type=int,
        help=f"rows per request (text, record: default all in one; push: {PUSH_BATCH:,})",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=POSTGRES_SERVER_URL,
        metavar="URL",
        help="run on a scratch database of this PostgreSQL server instead of SQLite",
    )
    parser.add_argument(
        "--port", type=int, help="serve on this port (default: a free one the system gives)"
    )
    args = parser.parse_args()
    if args.mode == "image" and args.batch:
        parser.error("--batch is for the text, record and push modes")
    if args.batch is not None and args.batch < 1:
        parser.error("--batch must be at least 1")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    print(f"[{args.mode}, {'PostgreSQL' if args.postgres else 'SQLite'}]", flush=True)
    with tempfile.TemporaryDirectory(prefix="eyeball-import-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                results = bench(args, data_dir, url)
        else:
            results = bench(args, data_dir, None)
    table(results)
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
