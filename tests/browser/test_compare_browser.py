"""A lead compares the demo's run with a second version of the model, in Chromium at
1366×768: the error rate's change is on screen at once, and a fixed error opens from
its link."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import Database
from app.domain.imports.demo import DEMO_DIR, read_sign_ins
from app.domain.imports.manifests import FolderMedia, Limits
from app.domain.imports.pipeline import ImportOptions, Upload, run_import
from tests.conftest import DemoData, LiveServer, start_server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}


def second_version() -> bytes:
    """The demo's eyeball set as a better model might score it: half its errors fixed,
    a few correct samples now wrong."""
    with (DEMO_DIR / "manifest.csv").open(encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest))
    rng = random.Random(3)
    for row in rows:
        wrong = row["prediction"] != row["label"]
        if wrong and rng.random() < 0.5:
            row["prediction"] = row["label"]
        elif not wrong and rng.random() < 0.03:
            row["prediction"] = str((int(row["label"]) + 1) % 10)
        row["probs"] = ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def server(tmp_path: Path, demo_data: DemoData) -> Iterator[LiveServer]:
    data_dir = demo_data.copy_to(tmp_path / "data")
    database = Database.from_url(f"sqlite:///{data_dir / 'eyeball.db'}")
    evaluated = json.loads((DEMO_DIR / "run.json").read_text(encoding="utf-8"))["evaluated"]
    run_import(
        database,
        1,
        Upload(io.BytesIO(second_version()), "v2.csv", FolderMedia(DEMO_DIR, Limits())),
        ImportOptions(run="v2", evaluated=evaluated),
        data_dir / "media",
    )
    database.dispose()
    server = start_server(data_dir, args=["--demo"])
    try:
        yield server
    finally:
        server.stop()


def test_a_lead_sees_what_the_new_version_fixed_and_opens_a_fixed_error(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    password = next(s.password for s in read_sign_ins(server.data_dir) if s.username == "lead")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server.base_url + "/sign-in")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base_url + "/")
    page.goto(server.base_url + "/projects/1/runs")
    page.locator("#compare-runs").click()
    page.wait_for_url("**/projects/1/compare")
    page.screenshot(path=str(screenshots / "compare.png"))

    # The answer to "did it work" is above the fold: both rates, the change, the counts.
    rate = page.locator("#rate-change").bounding_box()
    counts = page.locator("#error-changes").bounding_box()
    assert rate is not None
    assert counts is not None
    assert rate["y"] + rate["height"] <= VIEWPORT["height"]
    assert counts["y"] + counts["height"] <= VIEWPORT["height"]
    assert "fell" in page.locator("#rate-change").inner_text()
    fixed = int(page.locator("#error-changes li").first.locator("strong").inner_text())
    assert fixed > 0

    first = page.locator("#fixed .sample-links a").first
    name = first.inner_text()
    first.scroll_into_view_if_needed()
    box = first.bounding_box()
    assert box is not None
    hit = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.textContent",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit == name, "the link is covered"
    first.click()
    page.wait_for_url(f"**/runs/logreg-120/errors/{name}")
    assert name in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "fixed-error.png"))
    context.close()
