"""The sheet's filters in real Chromium, on the demo: what a lead types, sees and shares."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import demo_password, sign_in, watch
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def page(browser: Any, demo_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems = watch(page)
    sign_in(page, demo_server.base_url, "lead", demo_password(demo_server.data_dir, "lead"))
    page.goto(demo_server.base_url + "/projects/1/runs/latest/sheet")
    yield page
    context.close()
    assert problems == [], "script errors or Content-Security-Policy refusals"


def count(page: Any) -> Any:
    return page.locator("#sheet-count")


def test_a_metadata_typo_keeps_the_table_and_the_fixed_filter_applies(
    page: Any, screenshots: Path
) -> None:
    meta = page.get_by_label("Metadata")
    # The run's keys and values are offered, with how many errors carry each.
    offered = page.locator("datalist#meta-choices option[value='heavy_ink=yes']")
    expect(offered).to_have_text(re.compile(r"^\d+ errors?$"))
    heavy = int(offered.inner_text().split()[0])
    expect(count(page)).not_to_contain_text("matching the filters")

    meta.fill("heavy_ink")
    meta.press("Enter")
    expect(page.locator("#filter-problems")).to_contain_text("Filter metadata as key=value")
    expect(page.locator("#sheet tbody tr").first).to_be_visible()
    expect(meta).to_have_value("heavy_ink")
    page.screenshot(path=screenshots / "1-typo.png")

    meta.fill("heavy_ink=yes")
    meta.press("Enter")
    expect(count(page)).to_contain_text(f"of {heavy} matching the filters")
    expect(page.locator("#filter-problems")).to_have_count(0)
    page.screenshot(path=screenshots / "2-fixed.png")


def test_the_address_follows_each_filter_once_through_back_and_reload(
    page: Any, screenshots: Path
) -> None:
    # The sheet itself, not its live row updates or event stream.
    sheet = re.compile(r"/runs/[^/?]+/sheet(\?|$)")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if sheet.search(r.url) else None)
    label, meta = page.locator("select[name=label]"), page.get_by_label("Metadata")

    label.select_option("8")
    expect(page).to_have_url(re.compile(r"[?&]label=8(&|$)"))
    expect(count(page)).to_contain_text("matching the filters")
    by_label = count(page).inner_text()
    assert len(asked) == 1

    # Typed, then "Filter" clicked: the field's change and the submit are one request.
    meta.fill("heavy_ink=yes")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]meta=heavy_ink%3Dyes(&|$)"))
    expect(count(page)).not_to_have_text(by_label)
    by_both = count(page).inner_text()
    assert len(asked) == 2, asked
    assert "label=8" in page.url

    # Back: the previous filter, in the address, the form and the table alike.
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"meta=heavy_ink"))
    expect(page).to_have_url(re.compile(r"[?&]label=8(&|$)"))
    expect(meta).to_have_value("")
    expect(label).to_have_value("8")
    expect(count(page)).to_have_text(by_label)
    page.screenshot(path=screenshots / "1-back.png")

    # Forward, then reload: the latest filter, as a shared link would show it.
    page.go_forward()
    expect(page).to_have_url(re.compile(r"[?&]meta=heavy_ink%3Dyes(&|$)"))
    expect(meta).to_have_value("heavy_ink=yes")
    page.reload()
    expect(meta).to_have_value("heavy_ink=yes")
    expect(label).to_have_value("8")
    expect(count(page)).to_have_text(by_both)
    page.screenshot(path=screenshots / "2-reloaded.png")
