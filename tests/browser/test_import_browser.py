"""A lead imports a small zip through the page in a real Chromium and lands on the project."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.accounts.users import create_user
from app.domain.imports.jobs import JobState, create_job, save_job
from app.domain.imports.pipeline import ImportOptions
from app.domain.imports.progress import Phase
from app.domain.projects.settings import create_project
from app.models import Project, SampleKind, User
from tests.browser.pages import sign_in, watch
from tests.conftest import LiveServer, start_server
from tests.importing import csv_bytes, image_rows, images_for, write_demo_like, zip_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "a long password"


@pytest.fixture
def server(tmp_path: Path) -> Any:
    live = start_server(tmp_path / "server")
    try:
        database = Database.from_url(f"sqlite:///{live.data_dir / 'eyeball.db'}")
        with database.transaction() as session:
            lead = create_user(session, "lead", PASSWORD, display_name="Dana Lead")
            create_project(
                session, lead, name="Street signs", kind=SampleKind.IMAGE, labels=["cat", "dog"]
            )
        database.dispose()
        yield live
    finally:
        live.stop()


def running_job(server: LiveServer, project_id: int, *, done: int, total: int) -> str:
    media_dir = server.data_dir / "media"
    database = Database.from_url(f"sqlite:///{server.data_dir / 'eyeball.db'}")
    with database.transaction() as session:
        project = session.get(Project, project_id)
        assert project is not None
        lead = session.scalars(select(User).where(User.username == "lead")).one()
        job, _ = create_job(
            media_dir,
            project,
            lead.id,
            manifest_name="big.csv",
            images="zip",
            options=ImportOptions(run="resnet-v3"),
        )
    database.dispose()
    job.state, job.phase, job.done, job.total = (
        JobState.IMPORTING,
        Phase.CHECKING_IMAGES.value,
        done,
        total,
    )
    job.phases = [{"phase": "reading", "items": total, "seconds": 0.42}]
    save_job(media_dir, job)
    return f"/projects/{project_id}/import/{job.id}"


def test_a_lead_imports_a_zip_sees_the_preview_and_lands_on_the_project(
    browser: Any, server: LiveServer, screenshots: Path, tmp_path: Path
) -> None:
    rows = image_rows(60, 24)
    rows[0]["probs"] = '{"cat": 0.3, "dog": 0.7}'
    (tmp_path / "predictions.csv").write_bytes(csv_bytes(rows))
    (tmp_path / "images.zip").write_bytes(zip_bytes(images_for(rows)))

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems = watch(page)
    try:
        sign_in(page, server.base_url, "lead", PASSWORD)
        page.get_by_role("link", name="Street signs").click()
        page.wait_for_url("**/projects/*")
        page.get_by_role("link", name="import predictions").click()
        page.wait_for_url("**/import")
        assert page.get_by_role("heading", name="Import a run").is_visible()

        page.get_by_label("Manifest (CSV or JSONL)").set_input_files(tmp_path / "predictions.csv")
        page.get_by_label("A zip of the images").set_input_files(tmp_path / "images.zip")
        page.get_by_label("Run (the model version)").fill("resnet-v1")
        page.get_by_label("Review a random sample of").fill("10")
        page.get_by_label("Seed").fill("4")
        page.screenshot(path=screenshots / "1-import-form.png", full_page=True)
        page.get_by_role("button", name="Check and preview").click()

        # The check runs in the server's background thread; htmx polls until it is done.
        page.locator("#import-job[data-state=checked]").wait_for(timeout=30_000)
        assert page.locator("#count-rows").inner_text() == "60"
        assert page.locator("#count-errors").inner_text() == "24"
        assert page.locator("#error-rate").inner_text() == "40.0% of 60 evaluated"
        assert page.locator("#for-review").inner_text() == "a random sample of 10 errors (seed 4)"
        assert page.locator("#preview-rows tbody tr").count() == 10
        assert page.locator("#problems").count() == 0
        page.screenshot(path=screenshots / "2-preview.png", full_page=True)

        page.get_by_role("button", name="Import 60 rows").click()
        page.wait_for_url(re.compile(r".*/projects/\d+\?imported=.*"), timeout=30_000)
        notice = page.locator("#imported").inner_text()
        assert notice.startswith("Imported run resnet-v1: 60 rows, 24 errors (error rate 40.0%)")
        progress = " ".join(page.locator("#progress").inner_text().split())
        assert "24 errors in 60 evaluated samples (error rate 40.0%)" in progress
        assert "0 of 10 errors under review are done" in progress
        assert page.locator("#next-steps").inner_text().count("No run imported yet") == 0
        page.screenshot(path=screenshots / "3-project-after-import.png", full_page=True)

        # A second file that contradicts the first: every problem is listed, nothing runs.
        rows[5]["label"] = "dog"
        rows[7]["confidence"] = 1.5
        (tmp_path / "relabelled.csv").write_bytes(csv_bytes(rows))
        page.get_by_role("link", name="Import a run").click()
        page.get_by_label("Manifest (CSV or JSONL)").set_input_files(tmp_path / "relabelled.csv")
        page.get_by_label("A zip of the images").set_input_files(tmp_path / "images.zip")
        page.get_by_label("Run (the model version)").fill("resnet-v2")
        page.get_by_role("button", name="Check and preview").click()
        page.locator("#import-job[data-state=checked]").wait_for(timeout=30_000)
        assert page.locator("#problems li").all_inner_texts() == [
            "line 7, label conflict: sample 's005' is stored with label 'cat', this import "
            "says 'dog'; stored labels are not overwritten",
            "line 9, confidence 1.5 is outside 0..1",
        ]
        assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
        page.screenshot(path=screenshots / "4-problems.png", full_page=True)

        # A folder picked in the browser: the manifest's paths are relative to that folder.
        more = image_rows(6, 2, prefix="f")
        write_demo_like(tmp_path / "export", more)
        page.get_by_role("link", name="start again").click()
        page.get_by_label("Manifest (CSV or JSONL)").set_input_files(
            tmp_path / "export" / "manifest.csv"
        )
        page.get_by_label("…or a folder of them").set_input_files(tmp_path / "export")
        page.get_by_label("Run (the model version)").fill("resnet-v1")
        page.get_by_role("button", name="Check and preview").click()
        page.locator("#import-job[data-state=checked]").wait_for(timeout=30_000)
        assert page.locator("#problems").count() == 0
        assert page.locator("#count-rows").inner_text() == "6"
        page.get_by_role("button", name="Import 6 rows").click()
        page.wait_for_url(re.compile(r".*/projects/\d+\?imported=.*"), timeout=30_000)
        assert page.locator("#imported").inner_text().startswith("Imported run resnet-v1: 6 rows")
        # How long each phase took, from the same progress the bar showed.
        timings = page.locator("#import-timings")
        assert timings.is_visible()
        assert re.fullmatch(
            r"Took [0-9.]+ s: Reading the manifest [0-9.]+ s, Checking images [0-9.]+ s, "
            r"Saving [0-9.]+ s\.",
            timings.inner_text(),
        ), timings.inner_text()
        page.screenshot(path=screenshots / "3b-project-after-folder-import.png")

        # A large import in progress, as its status file says: the bar and its live polling.
        project_id = int(re.findall(r"/projects/(\d+)", page.url)[0])
        job_url = running_job(server, project_id, done=3_250, total=10_000)
        page.goto(server.base_url + job_url)
        bar = page.locator("progress#import-progress")
        assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("3250", "10000")
        assert page.locator("#import-job").get_attribute("hx-trigger") == "every 500ms"
        done_already = page.locator("#import-phases li")
        assert done_already.all_inner_texts() == ["✓ Reading the manifest: 10,000 in 0.42 s"]
        assert done_already.first.is_visible()
        page.screenshot(path=screenshots / "5-progress.png")
        assert problems == [], "script errors or Content-Security-Policy refusals"
    finally:
        context.close()
