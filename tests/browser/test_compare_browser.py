"""The demo's two versions of the model, in Chromium at 1366×768: a lead compares them
(the error rate's change on screen at once, the generator's fixed / new / stayed
counts, a fixed error opening from its link); an annotator takes an error's earlier
verdict with one key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.imports.demo import DEMO_CHANGES, DEMO_DIR, DEMO_RUNS
from tests.browser.pages import demo_password, sign_in
from tests.conftest import DemoData, LiveServer, start_server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}
CHANGES = json.loads((DEMO_DIR / DEMO_CHANGES).read_text(encoding="utf-8"))
FIRST, SECOND = (
    json.loads((DEMO_DIR / info).read_text(encoding="utf-8"))["name"] for _, info in DEMO_RUNS
)


@pytest.fixture
def server(tmp_path: Path, demo_data: DemoData) -> Iterator[LiveServer]:
    server = start_server(demo_data.copy_to(tmp_path / "data"), args=["--demo"])
    try:
        yield server
    finally:
        server.stop()


def signed_in(browser: Any, server: LiveServer, username: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in(page, server.base_url, username, demo_password(server.data_dir, username))
    return page


def test_a_lead_sees_what_the_new_version_fixed_and_opens_a_fixed_error(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    page = signed_in(browser, server, "lead")
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
    counts = [int(n) for n in page.locator("#error-changes li strong").all_inner_texts()]
    assert counts == [len(CHANGES[key]) for key in ("fixed", "new", "stayed")]

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
    page.wait_for_url(f"**/runs/{FIRST}/errors/{name}")
    assert name in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "fixed-error.png"))
    page.context.close()


def test_an_annotator_takes_the_earlier_runs_verdict_with_one_key(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, server, "alice")
    page.goto(server.base_url + "/projects/1/compare")
    name = page.locator("#stayed .sample-links a").first.inner_text()
    # The first run: alice marks the first cause and finishes.
    page.goto(f"{server.base_url}/projects/1/runs/{FIRST}/errors/{name}")
    first_cause = page.locator("input[name=cause]").first
    cause_id = first_cause.get_attribute("value")
    page.keyboard.press("1")
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: name not in url)

    # The same sample, still wrong in the second version: the verdict is offered,
    # nothing ticked.
    page.goto(f"{server.base_url}/projects/1/runs/{SECOND}/errors/{name}")
    carried = page.locator("#carried")
    expect(carried).to_be_visible()
    expect(carried).to_contain_text(f"In run {FIRST}")
    box = carried.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= VIEWPORT["height"], "the suggestion is off screen"
    assert page.locator("input[name=cause]:checked").count() == 0
    page.screenshot(path=str(screenshots / "carried.png"))

    page.keyboard.press("a")
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    expect(page.locator(f"input[name=cause][value='{cause_id}']")).to_be_checked()
    expect(page.locator("#carried")).to_have_count(0)
    # Saved as alice's own: it is there after a reload.
    page.reload()
    expect(page.locator(f"input[name=cause][value='{cause_id}']")).to_be_checked()
    expect(page.locator("#carried")).to_have_count(0)
    page.context.close()
