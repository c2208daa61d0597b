"""Pipelines of modules in Chromium at 1366×768: a lead declares detector → classifier on
the settings page, blames errors by keyboard on the review screen (a module's key alone,
Shift+key for a second), and reads the blame on the dashboard, opening a module's
sub-sheet from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import demo_password, sign_in, watch
from tests.conftest import DemoData, LiveServer, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def server(tmp_path: Path, demo_data: DemoData) -> Iterator[LiveServer]:
    # Its own copy of the demo: this test declares a pipeline and annotates.
    live = start_server(demo_data.copy_to(tmp_path / "data"), args=["--demo"])
    yield live
    live.stop()


def test_a_lead_declares_a_pipeline_blames_errors_and_reads_the_blame(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    problems = watch(page)
    sign_in(page, server.base_url, "lead", demo_password(server.data_dir, "lead"))

    # Settings: the chain, input side first, with accuracies as percentages.
    page.goto(server.base_url + "/projects/1/settings")
    form = page.locator("#pipeline-form")
    for row, values in enumerate([("detector", "98", "98.5"), ("classifier", "99", "99.5")]):
        for field, value in zip(("name", "accuracy", "human"), values, strict=True):
            form.locator(f"#f-module-{row}-{field}").fill(value)
    form.get_by_role("button", name="Save the pipeline").click()
    expect(page.locator("#pipeline-chain")).to_have_text("detector → classifier")
    page.locator("#pipeline").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "1-settings.png"))

    # Review: the blame group carries the method's test; keys blame one module at a time.
    page.goto(server.base_url + "/projects/1/review")
    expect(page.locator("#review")).to_have_attribute("data-ready", "true")
    group = page.locator("#blame-causes")
    expect(group.locator("#blame-test")).to_contain_text("does the rest get it right?")

    def box(name: str) -> Any:
        return group.locator("label.toggle", has_text=name).locator("input")

    keys = {n: box(n).get_attribute("data-cause-key") for n in ("detector", "classifier")}
    ambiguous_key = box("Ambiguous").get_attribute("data-cause-key")
    assert all(keys.values())
    assert ambiguous_key
    page.keyboard.press(keys["detector"])
    expect(box("detector")).to_be_checked()
    page.keyboard.press(keys["classifier"])  # the usual case: one module, so it replaces
    expect(box("classifier")).to_be_checked()
    expect(box("detector")).not_to_be_checked()
    page.keyboard.press(f"Shift+{keys['detector']}")  # sometimes two: Shift adds
    expect(box("detector")).to_be_checked()
    expect(box("classifier")).to_be_checked()
    page.keyboard.press(ambiguous_key)  # the mark toggles beside the blame
    expect(box("Ambiguous")).to_be_checked()
    expect(box("detector")).to_be_checked()
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.screenshot(path=str(screenshots / "2-review.png"))

    def done_and_next() -> None:
        before = page.url
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: url != before)
        expect(page.locator("#review")).to_have_attribute("data-ready", "true")

    # Four more errors: detector, detector, classifier, detector.
    done_and_next()
    for name in ("detector", "detector", "classifier", "detector"):
        expect(box(name)).not_to_be_checked()
        page.keyboard.press(keys[name])
        expect(box(name)).to_be_checked()
        expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
        done_and_next()

    # Dashboard: 4 of 5 on the detector, 2 on the classifier, 1 ambiguous.
    page.goto(server.base_url + "/projects/1/runs/logreg-120/dashboard")
    panel = page.locator("#pipeline-panel")
    panel.scroll_into_view_if_needed()
    detector = panel.locator("#pipeline-blame tr", has_text="detector")
    expect(detector).to_contain_text("80%")
    expect(panel.locator("#pipeline-blame tr", has_text="classifier")).to_contain_text("40%")
    expect(panel.locator("#pipeline-ambiguous")).to_contain_text("20%")
    # Both modules half a point from people, the whole far from its 1 %: the warning.
    expect(panel.locator("#decomposition-warning")).to_contain_text("decomposition")
    panel.screenshot(path=str(screenshots / "3-dashboard-panel.png"))
    page.screenshot(path=str(screenshots / "3-dashboard.png"))

    # The detector's errors: its own sub-sheet, for a second analysis of that module.
    detector.locator("a[data-blamed-sheet]").click()
    page.wait_for_url("**/sheet?cause=*")
    expect(page.locator("#sheet-table tbody tr[id^=error-]")).to_have_count(4)
    page.screenshot(path=str(screenshots / "4-detector-sheet.png"))
    assert problems == [], "script errors or Content-Security-Policy refusals"
    context.close()
