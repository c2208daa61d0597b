"""`eyeball import` from a shell: the same import, with a progress bar and plain messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import schema
from app.db import Database
from app.domain.accounts.users import create_user
from app.domain.projects.settings import create_project
from app.models import Prediction, Run, SampleKind
from tests.checkout import CHECKOUT
from tests.importing import csv_bytes, image_rows, images_for, write_demo_like, zip_bytes


def eyeball(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EYEBALL_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    env.pop("EYEBALL_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_import_from_a_folder_and_from_a_zip(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = Database.from_url(f"sqlite:///{data_dir / 'eyeball.db'}")
    schema.upgrade(database.engine)
    with database.transaction() as session:
        lead = create_user(session, "lead", "a long password")
        create_project(session, lead, name="Pets", kind=SampleKind.IMAGE)

    rows = image_rows(30, 12)
    write_demo_like(tmp_path / "export", rows)
    first = eyeball(
        data_dir,
        "import",
        "pets",
        str(tmp_path / "export" / "manifest.csv"),
        "--images",
        str(tmp_path / "export"),
        "--sample-errors",
        "5",
        "--seed",
        "9",
    )
    assert first.returncode == 0, first.stderr
    assert "Imported run 'manifest': 30 rows, 12 errors (error rate 40.0%)" in first.stdout
    assert "The eyeball set shows 12 errors: very small; about 100 need 250 samples" in first.stdout
    assert "5 errors under review" in first.stdout
    assert "Review sample drawn with seed 9." in first.stdout
    # The phases its progress bar went through, timed.
    assert re.search(
        r"Took [0-9.]+ s: Reading the manifest [0-9.]+ s, Checking images [0-9.]+ s, "
        r"Saving [0-9.]+ s\.",
        first.stdout,
    ), first.stdout

    (tmp_path / "images.zip").write_bytes(zip_bytes(images_for(rows)))
    (tmp_path / "v2.csv").write_bytes(csv_bytes(rows))
    second = eyeball(
        data_dir,
        "import",
        "1",
        str(tmp_path / "v2.csv"),
        "--images",
        str(tmp_path / "images.zip"),
        "--run",
        "v2",
    )
    assert second.returncode == 0, second.stderr
    assert "0 new samples, 30 new predictions" in second.stdout

    rows[3]["confidence"] = 9
    (tmp_path / "bad.csv").write_bytes(csv_bytes(rows))
    bad = eyeball(
        data_dir,
        "import",
        "Pets",
        str(tmp_path / "bad.csv"),
        "--images",
        str(tmp_path / "images.zip"),
        "--run",
        "v3",
    )
    assert bad.returncode == 1
    assert "Nothing was imported: 1 problem to fix first." in bad.stderr
    assert "line 5, column 'confidence': 9 is outside 0..1" in bad.stderr

    missing = eyeball(data_dir, "import", "Cats", str(tmp_path / "v2.csv"))
    assert missing.returncode == 1
    assert "No project with the id or name 'Cats'." in missing.stderr

    with database.transaction(read_only=True) as session:
        assert session.scalars(select(Run.name).order_by(Run.id)).all() == ["manifest", "v2"]
        assert session.scalar(select(func.count()).select_from(Prediction)) == 60
    database.dispose()
