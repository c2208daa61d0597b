"""The eyeball command, run as a person would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkout import CHECKOUT


def eyeball(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EYEBALL_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_users_tokens_and_schema_from_the_command_line(tmp_path: Path) -> None:
    assert eyeball(tmp_path, "db", "current").stdout.startswith("empty")
    upgraded = eyeball(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0
    assert "up to date" in eyeball(tmp_path, "db", "current").stdout

    created = eyeball(tmp_path, "user", "create", "Ada", "--password", "long enough pw", "--admin")
    assert created.stdout.strip() == "Created admin ada."
    duplicate = eyeball(tmp_path, "user", "create", "ada", "--password", "long enough pw")
    assert duplicate.returncode == 1
    assert "taken" in duplicate.stderr

    token = eyeball(tmp_path, "token", "create", "ada", "--name", "notebook")
    assert token.returncode == 0
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("eyb_")
    revoked = eyeball(tmp_path, "token", "revoke", "1")
    assert revoked.stdout.strip() == "Revoked token 1 (notebook) of ada."

    short = eyeball(tmp_path, "user", "set-password", "ada", "--password", "short")
    assert short.returncode == 1
    assert "too short" in short.stderr
    assert (
        eyeball(
            tmp_path, "user", "set-password", "ghost", "--password", "long enough pw"
        ).returncode
        == 1
    )

    assert eyeball(tmp_path, "serve", "--workers", "2").returncode == 1
