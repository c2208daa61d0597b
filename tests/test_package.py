"""The built wheel is all a server needs: installed into a fresh virtualenv outside the
checkout and run from another folder, it migrates a database and serves the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.checkout import CHECKOUT
from tests.conftest import free_port, start_server

# Seconds for pip: the wheel's dependencies come from the package index (or pip's cache).
PIP_TIMEOUT = 480


def _clean_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without anything that points into the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"} and not k.startswith("EYEBALL_")
    }
    return {**env, "EYEBALL_DATA_DIR": str(data_dir)}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installed_elsewhere_migrates_and_serves_the_demo(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("eyeball-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data_dir = tmp_path / "data"
    env = _clean_env(data_dir)
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "from app import resources; print(resources.ROOT)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The files come from inside the installed package, not from this checkout.
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout + where.stderr

    upgraded = subprocess.run(
        [str(bin_dir / "eyeball"), "db", "upgrade"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "Database at revision" in upgraded.stdout

    port = free_port()
    server = start_server(
        data_dir,
        command=[str(bin_dir / "eyeball"), "serve", "--demo", "--port", str(port)],
        port=port,
        env=env,
        cwd=elsewhere,
        timeout=300,
    )
    try:
        assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
        # Templates and static files are the package's: a page renders and styles load.
        page = httpx.get(server.base_url + "/sign-in")
        assert page.status_code == 200
        assert 'name="username"' in page.text
        assert httpx.get(server.base_url + "/static/css/eyeball.css").status_code == 200
        # The demo's data shipped too: its sign-ins were made and printed.
        assert "Demo sign-ins" in server.output()
        assert (data_dir / "demo_sign_ins.json").exists()
    finally:
        server.stop()
