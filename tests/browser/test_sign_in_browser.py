"""A person signs in as the demo lead in a real Chromium and opens the demo project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.domain.imports.demo import DEMO_PROJECT, read_sign_ins
from tests.browser.pages import watch
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_demo_lead_signs_in_and_opens_the_demo_project(
    browser: Any, demo_server: LiveServer, screenshots: Path
) -> None:
    lead = next(s for s in read_sign_ins(demo_server.data_dir) if s.username == "lead")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    problems = watch(page)
    try:
        page.goto(demo_server.base_url + "/")
        assert page.url.startswith(demo_server.base_url + "/sign-in")
        page.screenshot(path=screenshots / "1-sign-in.png")

        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Wrong username or password."

        page.get_by_label("Password").fill(lead.password)
        page.keyboard.press("Enter")
        page.wait_for_url(demo_server.base_url + "/")
        link = page.get_by_role("link", name=DEMO_PROJECT)
        assert link.is_visible()
        page.screenshot(path=screenshots / "2-projects.png")

        link.click()
        page.wait_for_url("**/projects/*")
        assert page.get_by_role("heading", level=1).inner_text() == DEMO_PROJECT
        progress = page.locator("#progress").inner_text()
        assert "114 errors" in progress
        assert "11.4%" in progress
        page.screenshot(path=screenshots / "3-project.png", full_page=True)

        page.keyboard.press("?")
        assert page.locator("#shortcuts").is_visible()
        page.keyboard.press("Escape")
        assert problems == [], "script errors or Content-Security-Policy refusals"
    finally:
        context.close()


def test_api_docs_work_offline_under_the_content_security_policy(
    browser: Any, demo_server: LiveServer, screenshots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    problems = watch(page)
    # Any request leaving this machine would be a CDN dependency.
    page.route(
        "**/*",
        lambda route: (
            route.abort()
            if not route.request.url.startswith(demo_server.base_url)
            else route.continue_()
        ),
    )
    try:
        page.goto(demo_server.base_url + "/docs")
        page.locator(".opblock-summary-path", has_text="/api/v1/auth/token").wait_for()
        page.screenshot(path=screenshots / "api-docs.png")
        assert problems == []
    finally:
        page.close()
