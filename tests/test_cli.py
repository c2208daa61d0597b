"""The eyeball command, run as a person would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.schema import alembic_config
from tests.checkout import CHECKOUT


def eyeball(
    data_dir: Path, *args: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EYEBALL_DATA_DIR": str(data_dir)}
    if database_url is not None:
        env["EYEBALL_DATABASE_URL"] = database_url
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


@pytest.mark.slow
def test_a_downgrade_says_what_it_drops_and_asks_for_yes(
    tmp_path: Path, empty_database_url: str
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return eyeball(tmp_path, *args, database_url=empty_database_url)

    assert run("db", "upgrade").returncode == 0
    head = run("db", "current").stdout.split(":")[0]

    helped = run("db", "downgrade", "--help")
    assert "--yes" in helped.stdout

    asked = run("db", "downgrade", "--", "-1")
    assert asked.returncode == 1
    assert head in asked.stdout
    newest = ScriptDirectory.from_config(alembic_config()).get_revision(head)
    assert newest is not None
    assert " ".join(newest.doc.split()) in asked.stdout  # what the newest revision holds
    assert "--yes" in asked.stderr
    assert run("db", "current").stdout.startswith(head)

    everything = run("db", "downgrade", "base")
    assert everything.returncode == 1
    assert "Initial schema" in everything.stdout
    every = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert [line.split()[0] for line in everything.stdout.splitlines()[1:]] == [
        r.revision for r in every
    ]
    assert run("db", "current").stdout.startswith(head)

    unknown = run("db", "downgrade", "nonsense")
    assert unknown.returncode == 1
    assert "not a revision" in unknown.stderr

    done = run("db", "downgrade", "--yes", "--", "-1")
    assert done.returncode == 0
    assert run("db", "current").stdout.startswith(f"{newest.down_revision}:")
