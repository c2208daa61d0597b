"""Blind review in real Chromium: two annotators in two browser contexts. alice marks an
error on the review screen; bob, watching the sheet, learns live that it changed but
never sees her causes on it, neither live nor after a reload, until he has finished his
own review of it. Then he sees the consensus.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.domain.accounts.users import get_user_by_username
from app.domain.imports.demo import DEMO_CAUSES, read_sign_ins
from app.domain.projects.access import get_access
from app.domain.projects.settings import ProjectFields, update_project
from app.models import Cause, Prediction, Project, Sample
from tests.browser.test_sheet_live_browser import Demo, sqlite_demo, watched_run
from tests.conftest import DemoData

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


def signed_in(browser: Any, demo: Demo, data_dir: Path, username: str, problems: list[str]) -> Any:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if "Refused to" in m.text else None)
    password = next(s.password for s in read_sign_ins(data_dir) if s.username == username)
    page.goto(demo.base_url + "/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base_url + "/")
    return page


def nothing_of_alices(page: Any, error_id: int, cause_id: int) -> None:
    """bob's row of the error: no consensus mark, no vote, no name but his; said hidden."""
    row = page.locator(f"#error-{error_id}")
    expect(row.locator(f'td[data-cause="{cause_id}"]')).to_have_text("")
    expect(row.locator("td.cause .mark, td.cause .vote")).to_have_count(0)
    expect(row.locator("td.annotators .hidden-reviews")).to_have_text("1 hidden")
    assert "Alice" not in row.inner_text()
    expect(page.locator("#hidden-reviews")).to_contain_text(
        "other reviews hidden until you finish yours"
    )


def test_an_annotator_never_sees_anothers_causes_on_an_error_before_reviewing_it(
    browser: Any, demo_data: DemoData, tmp_path: Path, screenshots: Path
) -> None:
    with sqlite_demo(demo_data, tmp_path) as demo:
        data_dir = tmp_path / "data"
        with demo.database.transaction() as session:
            # Two people per error, so both review the same one.
            lead = get_user_by_username(session, "lead")
            assert lead is not None
            access = get_access(session, lead, demo.project_id)
            update_project(session, access, replace(ProjectFields.of(access.project), overlap=2))
            project = session.get(Project, demo.project_id)
            assert project is not None
            assert project.blind_review  # the default: nobody turned it on
            run = watched_run(session, demo.project_id)
            error = session.scalars(
                select(Prediction)
                .where(Prediction.run_id == run.id, Prediction.in_review)
                .order_by(Prediction.review_order)
            ).first()
            assert error is not None
            sample = session.get(Sample, error.sample_id)
            assert sample is not None
            cause = session.scalars(
                select(Cause).where(Cause.project_id == demo.project_id, Cause.key == "1")
            ).one()
            error_id, external_id, cause_id, run_name = (
                error.id,
                sample.external_id,
                cause.id,
                run.name,
            )
        base = f"{demo.base_url}/projects/{demo.project_id}/runs/{run_name}"
        problems: list[str] = []
        bob = signed_in(browser, demo, data_dir, "bob", problems)
        alice = signed_in(browser, demo, data_dir, "alice", problems)
        try:
            bob.goto(base + "/sheet")
            expect(bob.locator(".live-status")).to_have_attribute("data-live", "on")
            status = bob.locator(f"#error-{error_id} td.status .badge").first
            expect(status).to_have_text("queued")

            # alice marks the error's first cause and finishes it, on the review screen.
            alice.goto(f"{base}/errors/{external_id}")
            expect(alice.locator("#review")).to_have_attribute("data-ready", "true")
            alice.keyboard.press("1")
            expect(alice.locator("#save-state")).to_have_attribute("data-state", "saved")
            alice.keyboard.press("Enter")
            expect(alice).not_to_have_url(f"{base}/errors/{external_id}")

            # Live: bob's row learns that someone reviewed it, and shows nothing of hers,
            # not even that she finished it (its status is still his own: queued).
            hidden_badge = bob.locator(f"#error-{error_id} td.annotators .hidden-reviews")
            expect(hidden_badge).to_have_text("1 hidden", timeout=10_000)
            expect(status).to_have_text("queued")
            nothing_of_alices(bob, error_id, cause_id)
            bob.screenshot(path=screenshots / "1-bob-sheet-live.png")
            # After a reload: the same.
            bob.reload()
            nothing_of_alices(bob, error_id, cause_id)
            expect(status).to_have_text("queued")
            hidden = bob.locator("#hidden-reviews")
            expect(hidden).to_be_visible()
            # Said above the table, in view on a laptop's screen without scrolling.
            box = hidden.bounding_box()
            assert box is not None
            assert box["width"] > 0
            assert box["y"] > 0
            assert box["y"] + box["height"] <= LAPTOP["height"]
            table = bob.locator("#sheet").bounding_box()
            assert table is not None
            assert box["y"] + box["height"] <= table["y"]
            bob.screenshot(path=screenshots / "2-bob-sheet-reloaded.png")

            # His own review screen of it starts blank: nothing of hers carried over.
            bob.goto(f"{base}/errors/{external_id}")
            expect(bob.locator("#review")).to_have_attribute("data-ready", "true")
            first = bob.locator("label.toggle", has_text=DEMO_CAUSES[0][0]).locator("input")
            expect(first).not_to_be_checked()
            # He finishes his own (the same cause): now the consensus is his to see.
            bob.keyboard.press("1")
            expect(bob.locator("#save-state")).to_have_attribute("data-state", "saved")
            bob.keyboard.press("Enter")
            expect(bob).not_to_have_url(f"{base}/errors/{external_id}")
            bob.goto(base + "/sheet")
            row = bob.locator(f"#error-{error_id}")
            expect(row.locator("td.status .badge").first).to_have_text("done")
            expect(row.locator(f'td[data-cause="{cause_id}"] .mark')).to_have_count(1)
            expect(row.locator(".hidden-reviews")).to_have_count(0)
            bob.screenshot(path=screenshots / "3-bob-sheet-after-his-review.png")
            assert problems == [], "script errors or Content-Security-Policy refusals"
        finally:
            bob.context.close()
            alice.context.close()
