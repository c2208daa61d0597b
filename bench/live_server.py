"""A real `eyeball serve` for the benchmarks, on a free port (one worker unless asked)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def eyeball_serve(
    data_dir: Path,
    database_url: str | None = None,
    *,
    demo: bool = False,
    port: int | None = None,
    workers: int = 1,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the server on `data_dir` (and `database_url`, else its SQLite file), on
    `port` (else a free one) with `workers` uvicorn workers; yields its base URL and
    process once it answers, and stops it however the block ends."""
    port = port or free_port()
    env = {
        **os.environ,
        "EYEBALL_DATA_DIR": str(data_dir),
        "EYEBALL_SECRET_KEY": "b" * 40,
        "PYTHONUNBUFFERED": "1",
    }
    if database_url:
        env["EYEBALL_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    log_path = data_dir / "server.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(
            command + (["--demo"] if demo else []),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)  # polling a subprocess for readiness
            yield base, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
