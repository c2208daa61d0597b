"""Import N rows with small PNGs through the REST endpoint of a real server.

    .venv/bin/python bench/import_bench.py [--rows 10000] [--postgres URL]

Starts `eyeball serve` on a free port with a temporary data folder, creates a lead,
a project and an API token, uploads a manifest and a zip of the images, and prints
the rows per second and the server's peak memory (VmHWM from /proc: Linux only).
Not a timed test: the figures go into bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx2 as httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live_server import eyeball_serve  # noqa: E402

from app.db import Database  # noqa: E402
from app.domain.accounts.users import create_token, create_user  # noqa: E402
from app.domain.projects.settings import create_project  # noqa: E402
from app.models import SampleKind  # noqa: E402

LABELS = [str(d) for d in range(10)]


def make_files(folder: Path, rows: int, error_rate: float) -> tuple[Path, Path]:
    """A manifest listing every sample and a zip of distinct 28×28 PNGs, written to disk."""
    rng = random.Random(1)
    manifest, images = folder / "manifest.csv", folder / "images.zip"
    with manifest.open("w", newline="") as f, zipfile.ZipFile(images, "w") as z:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "prediction", "confidence", "image", "source"])
        for i in range(rows):
            label = rng.choice(LABELS)
            wrong = rng.random() < error_rate
            prediction = rng.choice([x for x in LABELS if x != label]) if wrong else label
            name = f"images/{i:06d}.png"
            pixels = Image.frombytes("L", (28, 28), rng.randbytes(28 * 28))
            out = io.BytesIO()
            pixels.save(out, format="PNG")
            z.writestr(name, out.getvalue())
            source = "scan" if i % 3 else "phone"
            writer.writerow([f"s{i:06d}", label, prediction, f"{rng.random():.4f}", name, source])
    return manifest, images


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="eyeball-bench-") as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        data_dir.mkdir()
        started = time.perf_counter()
        manifest, images = make_files(folder, args.rows, args.error_rate)
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f}s; "
            f"zip {images.stat().st_size / 2**20:.1f} MiB"
        )

        url = args.postgres or f"sqlite:///{data_dir / 'eyeball.db'}"
        with eyeball_serve(data_dir, args.postgres) as (base, server):
            database = Database.from_url(url)
            with database.transaction() as session:
                lead = create_user(session, "bench", "a long password")
                project = create_project(
                    session, lead, name="Bench", kind=SampleKind.IMAGE, labels=LABELS
                )
                project_id = project.id
                token = create_token(session, lead, "bench").secret
            database.dispose()

            idle = peak_memory_mib(server.pid)
            headers = {"Authorization": f"Bearer {token}"}
            endpoint = f"{base}/api/v1/projects/{project_id}/import"
            for attempt in ("first import", "same file again"):
                with manifest.open("rb") as m, images.open("rb") as z:
                    started = time.perf_counter()
                    response = httpx.post(
                        endpoint,
                        headers=headers,
                        files={"manifest": ("manifest.csv", m), "images": ("images.zip", z)},
                        data={"run": "bench-v1", "sample_errors": "100", "seed": "1"},
                        timeout=900,
                    )
                    elapsed = time.perf_counter() - started
                response.raise_for_status()
                body = response.json()
                print(
                    f"{attempt}: {args.rows:,} rows in {elapsed:.1f}s = "
                    f"{args.rows / elapsed:,.0f} rows/s; created {body['samples_created']:,} "
                    f"samples, {body['errors']:,} errors, error rate {body['error_rate']:.3f}, "
                    f"{body['queued_for_review']} queued"
                )
            print(
                f"server peak memory (VmHWM): {peak_memory_mib(server.pid):.0f} MiB "
                f"(after start-up: {idle:.0f} MiB)"
            )


if __name__ == "__main__":
    main()
