"""The label audit in Chromium at 1366×768: a lead starts it from the dashboard, queues
five correct predictions and checks them by keyboard alone; the estimate follows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.imports.demo import DEMO_DIR, DEMO_RUNS
from tests.browser.test_compare_browser import VIEWPORT, signed_in
from tests.conftest import DemoData, LiveServer, start_server

pytestmark = pytest.mark.browser

# The second run: the demo queues an audit of the first one already.
SECOND = json.loads((DEMO_DIR / DEMO_RUNS[1][1]).read_text(encoding="utf-8"))["name"]


@pytest.fixture
def server(tmp_path: Path, demo_data: DemoData) -> Iterator[LiveServer]:
    server = start_server(demo_data.copy_to(tmp_path / "data"), args=["--demo"])
    try:
        yield server
    finally:
        server.stop()


def visible_and_clickable(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0, selector
    assert box["y"] + box["height"] <= VIEWPORT["height"], selector
    hit = page.evaluate(
        "([x, y, s]) => document.elementFromPoint(x, y)?.closest(s) !== null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, selector],
    )
    assert hit, f"{selector} is covered"


def test_a_lead_audits_correct_predictions_by_keyboard(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    page = signed_in(browser, server, "lead")
    page.goto(f"{server.base_url}/projects/1/runs/{SECOND}/dashboard")
    page.locator("#open-label-audit").click()
    page.wait_for_url(f"**/runs/{SECOND}/label-audit")
    page.locator("#f-size").fill("5")
    page.locator("#audit-queue button[type=submit]").click()
    page.wait_for_selector("#check-labels")
    assert "5 left" in page.locator("#check-labels").inner_text()

    page.keyboard.press("c")
    page.wait_for_selector("#check-form")
    page.screenshot(path=str(screenshots / "label-check.png"))
    for selector in ("#label-right", "#label-wrong", "#f-suggested_label", "#media-image"):
        visible_and_clickable(page, selector)

    def answer(keys: list[str], position: int) -> None:
        for key in keys:
            page.keyboard.press(key)
        page.wait_for_function(
            "p => document.getElementById('check-position')?.textContent.trim() === p",
            arg=f"{position} / 5",
        )

    assert page.locator("#check-position").inner_text() == "1 / 5"
    answer(["r"], 2)
    answer(["w"], 3)
    # A wrong label with the right one typed: t, the label, Enter.
    label = int(page.locator("#check-label").inner_text())
    page.keyboard.press("t")
    page.keyboard.type(str((label + 1) % 10))
    answer(["Enter"], 4)
    answer(["r"], 5)
    page.keyboard.press("r")
    page.wait_for_url(f"**/runs/{SECOND}/label-audit")
    page.screenshot(path=str(screenshots / "label-audit.png"), full_page=True)

    assert page.locator("#audit-wrong").inner_text().startswith("40%")
    assert "2 of 5 checked" in page.locator("#audit-wrong").inner_text()
    found = page.locator("#audit-found tbody tr")
    assert found.count() == 2
    assert found.nth(1).locator("td").nth(2).inner_text() == str((label + 1) % 10)
    assert page.locator("#check-labels").count() == 0  # nothing left to check
