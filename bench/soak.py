"""Soak: mixed traffic against a real `eyeball serve` for N minutes (issue 16's proof).

    .venv/bin/python bench/soak.py                          # 20 minutes on SQLite, then PostgreSQL
    .venv/bin/python bench/soak.py --minutes 2 --database sqlite
    .venv/bin/python bench/soak.py --database postgresql --workers 2

Starts `eyeball serve` (SQLite: one process; PostgreSQL: a scratch database on
EYEBALL_TEST_POSTGRES_URL's server, dropped after, and `--workers` processes) on a
temporary data folder, sets up an image project (a lead, --annotators annotators,
six causes, overlap = the number of annotators) and imports a first run through the
API. Then, all at once until the time is up:

  - the annotators go through the review queue with the real request sequence of the
    review screen (review_traffic.py: next, page, 1-3 toggles, done), pausing about
    --think seconds between two actions, as a person reading does;
  - --dashboards leads keep a live page open, alternately the dashboard and the sheet:
    the page's event stream subscribed and read, the fragment each `annotation` event
    asks for fetched as htmx does (one at a time, the events that came meanwhile
    together), and the whole page fetched again every --page-every seconds;
  - the lead imports a new run (a manifest and a zip of PNGs, bench/import_bench.py's)
    every --import-every seconds; the review queue moves on to it, as it does for a
    new model version.

Then it reads every annotation back through the API export and checks that every
save the server acknowledged is there (a toggle's answer carries its version; a
finishing save must have left a newer version, marked done, with the same causes).

Reports: errors (any 5xx or broken connection) and other unexpected answers, lost
saves, the RSS of the server process(es) at the start, every minute and at the end,
lines of the server log that say ERROR or Traceback, and p50/p95/p99 per route.
Exits non-zero on any error, unexpected answer or lost save.
Not a timed test: the figures go into bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from import_bench import LABELS, csv_manifest, import_post, make_rows, png_zip  # noqa: E402
from live_server import eyeball_serve  # noqa: E402
from review_traffic import (  # noqa: E402
    PASSWORD,
    Annotator,
    Results,
    Save,
    cause_ids_on_page,
    drop_postgres,
    percentile,
    postgres_database,
    sign_in,
)

from app.db import Database  # noqa: E402
from app.domain.accounts.users import create_token, create_user  # noqa: E402
from app.domain.projects.access import get_access  # noqa: E402
from app.domain.projects.causes import create_cause  # noqa: E402
from app.domain.projects.settings import create_project  # noqa: E402
from app.domain.projects.team import add_member  # noqa: E402
from app.models import ProjectRole, SampleKind  # noqa: E402

CAUSES = ("blurry", "dark", "occluded", "tiny", "cropped", "two digits")
IMPORT_ROWS = 600
IMPORT_ERROR_RATE = 0.3
LEAD = "soak-lead"
# The label of each route in the report, by request kind.
ROUTES = {
    "next": "GET  /projects/{id}/review (303)",
    "page": "GET  .../runs/{run}/errors/{id}",
    "toggle": "POST .../annotation/{id} (toggle)",
    "done": "POST .../annotation/{id} (done)",
    "events": "GET  /projects/{id}/events (to subscribed)",
    "dashboard page": "GET  .../runs/{run}/dashboard (page)",
    "dashboard live": "GET  .../runs/{run}/dashboard (htmx, on event)",
    "sheet page": "GET  .../runs/{run}/sheet (page)",
    "sheet live": "GET  .../runs/{run}/sheet/live (on event)",
    "import": "POST /api/v1/projects/{id}/import",
    "export": "GET  /api/v1/.../annotations.json",
}


@dataclass
class Soak:
    base: str
    project_id: int
    token: str
    cause_names: dict[str, str]
    results: Results = field(default_factory=Results)
    stop: threading.Event = field(default_factory=threading.Event)
    saves: dict[tuple[str, str, str], Save] = field(default_factory=dict)
    saves_count: int = 0
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    dry: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saved(self, save: Save) -> None:
        with self.lock:
            # One annotator's saves of one error come one after the other: the last
            # acknowledged is what the database must hold.
            self.saves[(save.username, save.run, save.external_id)] = save
            self.saves_count += 1

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)
        print(f"    ! {text}", file=sys.stderr, flush=True)

    def timed(
        self, kind: str, send: Any, expected: tuple[int, ...] = (200,)
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response: httpx.Response = send()
        except httpx.HTTPError as exc:
            self.results.record(kind, time.perf_counter() - started, ok=False, status=None)
            if not self.stop.is_set():
                self.problem(f"{kind}: {exc.__class__.__name__}: {exc}")
            return None
        ok = response.status_code in expected
        self.results.record(kind, time.perf_counter() - started, ok, response.status_code)
        if not ok:
            self.problem(f"{kind}: {response.status_code} {response.text[:300]!r}")
        return response


# --- set-up ------------------------------------------------------------------------


def prepare(database_url: str, annotators: int) -> tuple[int, str, list[str]]:
    """The project, its lead's API token and its annotators (signed in through the
    web afterwards, as people are)."""
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            lead = create_user(session, LEAD, PASSWORD)
            project = create_project(
                session, lead, name="Soak", kind=SampleKind.IMAGE, labels=LABELS
            )
            project.overlap = annotators
            access = get_access(session, lead, project.id)
            for name in CAUSES:
                create_cause(session, access, name)
            names = []
            for i in range(annotators):
                person = create_user(session, f"soak{i}", PASSWORD)
                add_member(session, project, person, ProjectRole.ANNOTATOR)
                names.append(person.username)
            return project.id, create_token(session, lead, "soak").secret, names
    finally:
        database.dispose()


def import_run(soak: Soak, client: httpx.Client, files: Any, name: str) -> bool:
    post = import_post("manifest.csv", *files)
    post = replace(post, data={**post.data, "run": name})
    answer = soak.timed(
        "import",
        lambda: client.post(
            f"/api/v1/projects/{soak.project_id}{post.path}", files=post.files, data=post.data
        ),
        expected=(200, 201),
    )
    if answer is None or answer.is_error:
        return False
    with soak.lock:
        soak.imports.append(f"{name}: {answer.json()['queued_for_review']} queued")
    return True


# --- traffic -----------------------------------------------------------------------


def annotator_loop(
    soak: Soak, client: httpx.Client, username: str, causes: list[str], seed: int, think: float
) -> None:
    rng = random.Random(seed)

    def pause() -> None:
        soak.stop.wait(rng.uniform(0.5, 1.5) * think)

    person = Annotator(
        client, username, soak.project_id, causes, soak.results, seed, pause=pause, saved=soak.saved
    )
    while not soak.stop.is_set():
        try:
            if person.url is None and not person.next():
                with soak.lock:
                    soak.dry += 1
                soak.stop.wait(10)  # nothing left for this annotator: come back later
                continue
            person.review_one()
        except httpx.HTTPError as exc:
            # Counted by the request it broke; this annotator starts again from the queue.
            if not soak.stop.is_set():
                soak.problem(f"{username}: {exc.__class__.__name__}: {exc}")
            person.url = None
            soak.stop.wait(1)  # as a browser's retry does; not a tight loop on a dead server


class Dashboard:
    """A lead's open live page: the dashboard or the sheet of the home run."""

    def __init__(self, soak: Soak, client: httpx.Client, page: str, page_every: float) -> None:
        self.soak = soak
        self.client = client
        self.page = page  # "dashboard" or "sheet"
        self.page_every = page_every
        self.events_url = ""
        self.live_url = ""
        self.shown = ""
        self.columns = ""
        self.changed: set[int] = set()
        self.wake = threading.Condition()

    def load_page(self) -> None:
        url = f"/projects/{self.soak.project_id}/runs/latest/{self.page}"
        response = self.soak.timed(
            f"{self.page} page", lambda: self.client.get(url, follow_redirects=True)
        )
        if response is None or response.status_code != 200:
            return
        text = response.text
        found = re.search(r'sse-connect="([^"]+)"', text)
        if found:
            self.events_url = html.unescape(found.group(1))
        if self.page == "dashboard":
            found = re.search(r'hx-get="([^"]+/dashboard)" hx-trigger="sse:annotation"', text)
            self.live_url = html.unescape(found.group(1)) if found else ""
        else:
            found = re.search(r'id="sheet-table"[^>]*data-live-url="([^"]+)"', text) or re.search(
                r'data-live-url="([^"]+)"[^>]*id="sheet-table"', text
            )
            self.live_url = html.unescape(found.group(1)) if found else ""
            body = text.partition("<tbody")[2]
            self.shown = ",".join(re.findall(r'<tr[^>]* id="error-(\d+)"', body))
            self.columns = ",".join(
                re.findall(
                    r'data-cause="(\d+)"', text.partition("<thead")[2].partition("</thead>")[0]
                )
            )
        if not self.events_url or not self.live_url:
            self.soak.problem(f"{self.page}: no event stream or live URL on the page")

    def listen(self) -> None:
        """The page's EventSource: subscribe, read, reconnect when the page moved on."""
        while not self.soak.stop.is_set():
            url = self.events_url
            if not url:
                self.soak.stop.wait(1)
                continue
            started = time.perf_counter()
            try:
                with self.client.stream(
                    "GET",
                    url,
                    headers={"Accept": "text/event-stream"},
                    timeout=httpx.Timeout(60, read=60),
                ) as response:
                    if response.status_code != 200:
                        self.soak.results.record(
                            "events", time.perf_counter() - started, False, response.status_code
                        )
                        self.soak.problem(f"events: {response.status_code}")
                        self.soak.stop.wait(5)
                        continue
                    kind = ""
                    for line in response.iter_lines():
                        if line.startswith("event:"):
                            kind = line.partition(":")[2].strip()
                        elif line.startswith("data:") and kind:
                            self.on_event(kind, line.partition(":")[2].strip(), started)
                            kind = ""
                        if self.soak.stop.is_set() or url != self.events_url:
                            break
            except httpx.HTTPError as exc:
                if not self.soak.stop.is_set():
                    self.soak.results.record("events", time.perf_counter() - started, False, None)
                    self.soak.problem(f"events: {exc.__class__.__name__}: {exc}")
                    self.soak.stop.wait(1)  # an EventSource waits before it reconnects

    def on_event(self, kind: str, data: str, started: float) -> None:
        with self.soak.lock:
            self.soak.events[kind] += 1
        if kind == "subscribed":
            self.soak.results.record("events", time.perf_counter() - started, True)
        elif kind == "annotation":
            change = json.loads(data)
            with self.wake:
                self.changed.add(int(change["prediction"]))
                self.wake.notify()
        elif kind == "ended":
            self.soak.problem(f"{self.page}: the event stream ended its lead's access")

    def refresh(self) -> None:
        """The page's htmx: after events, one request at a time; and a reload now and then."""
        next_page = time.monotonic() + self.page_every
        while not self.soak.stop.is_set():
            if time.monotonic() >= next_page:
                self.load_page()
                next_page = time.monotonic() + self.page_every
                continue
            with self.wake:
                self.wake.wait_for(lambda: bool(self.changed) or self.soak.stop.is_set(), timeout=1)
                changed, self.changed = self.changed, set()
            if not changed or self.soak.stop.is_set():
                continue
            if self.page == "dashboard":
                url = self.live_url
            else:
                ids = ",".join(str(i) for i in sorted(changed))
                url = f"{self.live_url}&changed={ids}&shown={self.shown}&columns={self.columns}"
            self.soak.timed(
                f"{self.page} live",
                lambda url=url: self.client.get(url, headers={"HX-Request": "true"}),
            )


def importer_loop(soak: Soak, client: httpx.Client, files: Any, every: float) -> None:
    turn = 1
    while not soak.stop.wait(every):
        import_run(soak, client, files, f"soak-{turn}")
        turn += 1


def rss_mib(process: psutil.Process) -> dict[str, float]:
    """RSS of the server and each of its workers, MiB."""
    out: dict[str, float] = {}
    try:
        processes = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in processes:
        try:
            out[f"{p.pid}"] = p.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return out


# --- the check ---------------------------------------------------------------------


def lost_saves(soak: Soak, client: httpx.Client) -> tuple[int, list[str]]:
    """Every last acknowledged save, looked up in the API export of its run."""
    by_run: dict[str, list[Save]] = defaultdict(list)
    for save in soak.saves.values():
        by_run[save.run].append(save)
    lost: list[str] = []
    for run, saves in sorted(by_run.items()):
        answer = soak.timed(
            "export",
            lambda run=run: client.get(
                f"/api/v1/projects/{soak.project_id}/runs/{run}/annotations.json"
            ),
        )
        if answer is None or answer.status_code != 200:
            lost.append(f"{run}: the export could not be read")
            continue
        stored = {
            (row["annotator"], row["sample_id"]): row
            for row in answer.json()
            if row["kind"] == "review"
        }
        for save in saves:
            row = stored.get((save.username, save.external_id))
            wanted = sorted(soak.cause_names[c] for c in save.causes)
            what = f"{save.username} {run}/{save.external_id}"
            if row is None:
                lost.append(f"{what}: not in the export")
            elif sorted(row["causes"]) != wanted:
                lost.append(f"{what}: causes {row['causes']}, saved {wanted}")
            elif save.done and (row["status"] != "done" or row["version"] <= (save.after or 0)):
                lost.append(
                    f"{what}: finished after v{save.after}, "
                    f"stored v{row['version']} {row['status']}"
                )
            elif not save.done and row["version"] != save.version:
                lost.append(f"{what}: saved as v{save.version}, stored v{row['version']}")
    return len(soak.saves), lost


# --- one soak ----------------------------------------------------------------------


def soak_one(args: argparse.Namespace, backend: str) -> bool:
    pg_name = None
    database_url = None
    workers = 1
    if backend == "postgresql":
        pg_name, database_url = postgres_database()
        workers = args.workers
    port = args.port if backend == "sqlite" else args.port + 1
    rows = make_rows(IMPORT_ROWS, IMPORT_ERROR_RATE, SampleKind.IMAGE)
    images = png_zip(rows)  # sets each row's image path: the manifest comes after
    files = (csv_manifest(rows), images)
    load_start = Path("/proc/loadavg").read_text().strip()
    print(
        f"\n[{backend}, {workers} server process{'es' if workers > 1 else ''}, "
        f"{args.annotators} annotators, {args.dashboards} dashboards, {args.minutes} min]"
        f"\n  load average at the start: {load_start}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="eyeball-soak-") as tmp:
            data_dir = Path(tmp)
            url = database_url or f"sqlite:///{(data_dir / 'eyeball.db').resolve()}"
            with eyeball_serve(data_dir, database_url, port=port, workers=workers) as (
                base,
                server,
            ):
                ok = _soak(args, backend, base, url, server, files)
                log = (data_dir / "server.log").read_text(errors="replace")
            kept = Path(tempfile.gettempdir()) / f"eyeball-soak-{backend}-server.log"
            kept.write_text(log)
            print(f"  server log kept in {kept}")
            logged = [line for line in log.splitlines() if "Traceback" in line or "ERROR" in line]
            print(f"  server log: {len(logged)} lines with ERROR or Traceback")
            for line in logged[:20]:
                print(f"    {line}")
            if logged:
                print("\n".join("    | " + line for line in log.splitlines()[-60:]))
    finally:
        if pg_name:
            drop_postgres(pg_name)
    load_end = Path("/proc/loadavg").read_text().strip()
    print(f"  load average at the end: {load_end}", flush=True)
    return ok and not logged


def _soak(
    args: argparse.Namespace,
    backend: str,
    base: str,
    url: str,
    process: subprocess.Popen[bytes],
    files: Any,
) -> bool:
    project_id, token, names = prepare(url, args.annotators)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=900)
    soak = Soak(base, project_id, token, {})
    if not import_run(soak, api, files, "soak-0"):
        raise SystemExit("the first import failed")
    people = [sign_in(base, name) for name in names]
    leads = [sign_in(base, LEAD) for _ in range(args.dashboards)]
    causes = cause_ids_on_page(people[0], project_id)
    soak.cause_names = cause_names(api, project_id)
    # Fresh connections with the same cookies (signing everyone in takes a while, and
    # the server closes keep-alive connections that sat idle meanwhile).
    clients = []
    for client in [*people, *leads]:
        clients.append(httpx.Client(base_url=base, timeout=60, cookies=client.cookies))
        client.close()
    server = psutil.Process(process.pid)
    memory: list[tuple[float, dict[str, float]]] = [(0.0, rss_mib(server))]
    threads = [
        threading.Thread(
            target=annotator_loop,
            args=(soak, clients[i], name, causes, i, args.think),
            daemon=True,
        )
        for i, name in enumerate(names)
    ]
    for j in range(args.dashboards):
        board = Dashboard(
            soak, clients[len(names) + j], ("dashboard", "sheet")[j % 2], args.page_every
        )
        board.load_page()
        threads += [
            threading.Thread(target=board.listen, daemon=True),
            threading.Thread(target=board.refresh, daemon=True),
        ]
    importer = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=900
    )
    threads.append(
        threading.Thread(
            target=importer_loop, args=(soak, importer, files, args.import_every), daemon=True
        )
    )
    started = time.monotonic()
    for thread in threads:
        thread.start()
    end = started + args.minutes * 60
    next_report = started + 60
    while time.monotonic() < end:
        soak.stop.wait(min(5.0, max(0.0, end - time.monotonic())))  # the soak's own clock
        if process.poll() is not None:
            soak.problem(
                f"the server exited with code {process.returncode} after "
                f"{(time.monotonic() - started) / 60:.1f} min (a negative code is a signal)"
            )
            break
        if time.monotonic() < next_report and time.monotonic() < end:
            continue
        next_report += 60
        memory.append((time.monotonic() - started, rss_mib(server)))
        with soak.lock:
            done = sum(1 for s in soak.saves.values() if s.done)
        print(
            f"  {(time.monotonic() - started) / 60:4.1f} min: {soak.saves_count} saves, "
            f"{done} errors finished, {sum(soak.results.failures.values())} errors, "
            f"RSS {sum(memory[-1][1].values()):.0f} MiB",
            flush=True,
        )
    soak.stop.set()
    for thread in threads:
        thread.join(timeout=90)
    elapsed = time.monotonic() - started
    if process.poll() is None:
        memory.append((elapsed, rss_mib(server)))
    checked, lost = lost_saves(soak, api)
    for client in [*clients, api, importer]:
        client.close()
    return report(soak, backend, elapsed, memory, checked, lost)


def cause_names(api: httpx.Client, project_id: int) -> dict[str, str]:
    answer = api.get(f"/api/v1/projects/{project_id}/causes")
    answer.raise_for_status()
    body = answer.json()
    items = body["causes"] if isinstance(body, dict) else body
    return {str(c["id"]): c["name"] for c in items}


def report(
    soak: Soak,
    backend: str,
    elapsed: float,
    memory: list[tuple[float, dict[str, float]]],
    checked: int,
    lost: list[str],
) -> bool:
    results = soak.results
    total = sum(len(v) for v in results.latencies.values())
    failures = sum(results.failures.values())
    unexpected = sum(results.errors.values()) - failures
    finished = sum(1 for s in soak.saves.values() if s.done)
    print(
        f"\n  {backend}: {total:,} requests in {elapsed / 60:.1f} min "
        f"= {total / elapsed:.1f} req/s; {soak.saves_count:,} acknowledged saves, "
        f"{finished:,} errors finished; imports: {'; '.join(soak.imports)}; "
        f"queue ran dry {soak.dry} times"
    )
    print(f"  events read by the dashboards: {dict(soak.events)}")
    print(
        f"  errors (5xx or broken connection): {failures}; other unexpected answers: {unexpected}"
    )
    print(f"  lost saves: {len(lost)} of {checked:,} annotations checked")
    for line in lost[:20]:
        print(f"    {line}")
    first, last = memory[0][1], memory[-1][1]
    peak = max(sum(m.values()) for _, m in memory)
    print(
        "  server RSS (MiB), start -> end: "
        + ", ".join(
            f"pid {pid} {first.get(pid, 0):.0f} -> {last.get(pid, 0):.0f}"
            for pid in sorted(set(first) | set(last))
        )
        + f"; total {sum(first.values()):.0f} -> {sum(last.values()):.0f}, peak sampled {peak:.0f}"
    )
    print(
        "  RSS every minute (total MiB): " + " ".join(f"{sum(m.values()):.0f}" for _, m in memory)
    )
    print("\n  | route | n | p50 ms | p95 ms | p99 ms | max ms | errors | unexpected |")
    print("  | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, label in ROUTES.items():
        values = results.latencies.get(kind)
        if not values:
            continue
        ms = [v * 1000 for v in values]
        fails = results.failures.get(kind, 0)
        print(
            f"  | `{label}` | {len(ms):,} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | "
            f"{percentile(ms, 99):.0f} | {max(ms):.0f} | {fails} | "
            f"{results.errors.get(kind, 0) - fails} |"
        )
    if soak.problems:
        print(f"  {len(soak.problems)} problems; the most frequent:")
        for text, count in Counter(soak.problems).most_common(10):
            print(f"    {count} x {text}")
    if not checked:
        print("  no save was acknowledged: nothing was soaked")
    return not failures and not unexpected and not lost and checked > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="server processes on PostgreSQL")
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--dashboards", type=int, default=2)
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between two actions of an annotator"
    )
    parser.add_argument("--import-every", type=float, default=240, help="seconds between imports")
    parser.add_argument(
        "--page-every", type=float, default=30, help="seconds between a dashboard's page reloads"
    )
    parser.add_argument(
        "--port", type=int, default=8130, help="SQLite's server port; PostgreSQL's is the next"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"{os.cpu_count()} CPUs; soak of {args.minutes} min per database", flush=True)
    passed = [soak_one(args, backend) for backend in backends]  # each runs, whatever the first did
    ok = all(passed)
    print("\nPASSED" if ok else "\nFAILED", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
