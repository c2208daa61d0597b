"""A new lead sets up a project in a real Chromium, never opening a terminal after the admin.

The admin account comes from the CLI, as on a fresh site; everything else happens
in the browser: users, site setting, first sign-in, project, team, causes, merge.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import sign_in, watch
from tests.checkout import CHECKOUT
from tests.conftest import EYEBALL, LiveServer, start_server

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "admin password 1"
LEAD_PASSWORD = "lead's own password"


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "site")
    try:
        env = {"EYEBALL_DATA_DIR": str(server.data_dir), "PATH": "/usr/bin:/bin"}
        subprocess.run(
            [*EYEBALL, "user", "create", "root", "--admin"],
            input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
            cwd=CHECKOUT,
            env=env,
            text=True,
            check=True,
            capture_output=True,
        )
        yield server
    finally:
        server.stop()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")


def create_user(page: Any, username: str, display_name: str) -> str:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Display name").fill(display_name)
    page.get_by_role("button", name="Create with a one-time password").click()
    password: str = page.locator("#otp").inner_text()
    assert len(password) == 12
    return password


def test_a_new_lead_sets_up_a_project(
    browser: Any, fresh_server: LiveServer, screenshots: Path
) -> None:
    base = fresh_server.base_url
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    problems = watch(page)

    def shot(name: str) -> None:
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)

    try:
        # The admin creates the lead and two annotators, and lets members start projects.
        sign_in(page, base, "root", ADMIN_PASSWORD)
        page.wait_for_url(base + "/")
        page.get_by_role("link", name="Users").click()
        lead_password = create_user(page, "lena", "Lena Lead")
        create_user(page, "ann", "Ann Notator")
        create_user(page, "bo", "Bo Notator")
        shot("01-users")
        page.get_by_role("link", name="Site settings").click()
        page.get_by_label("Any member may create projects").check()
        page.get_by_role("button", name="Save").click()
        assert page.get_by_role("status").first.inner_text() == "Site settings saved."
        shot("02-site-settings")
        sign_out(page)

        # First sign-in with the one-time password: choose a password first.
        sign_in(page, base, "lena", lead_password, home=False)
        page.wait_for_url("**/account")
        assert page.locator("#must-change").is_visible()
        shot("03-must-change-password")
        page.get_by_label("Current password").fill(lead_password)
        page.get_by_label("New password", exact=True).fill(LEAD_PASSWORD)
        page.get_by_label("New password again").fill(LEAD_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        assert "Password changed" in page.get_by_role("status").first.inner_text()

        # A new project: a mistake first, then the fix; what was typed stays.
        page.get_by_role("link", name="Eyeball, all projects").click()
        page.get_by_role("link", name="New project").first.click()
        page.get_by_label("Description").fill("Why the pet classifier confuses cats and dogs.")
        page.get_by_label("Label vocabulary").fill("cat, dog, fox")
        page.get_by_label("Reviewers per error").fill("0")
        page.get_by_role("button", name="Create the project").click()
        assert page.locator("#f-name-error").inner_text() == "Give the project a name."
        assert page.get_by_label("Label vocabulary").input_value() == "cat, dog, fox"
        shot("04-new-project-errors")
        page.get_by_label("Name").fill("Pet classifier")
        page.get_by_label("Reviewers per error").fill("2")
        page.get_by_role("button", name="Create the project").click()
        page.wait_for_url("**/projects/*")
        steps = page.locator("#next-steps li").all_inner_texts()
        assert steps[0].startswith("Only you are on the team")
        assert any(s.startswith("No causes yet") for s in steps)
        shot("05-project-guide")

        # The team.
        page.locator("#next-steps").get_by_role("link", name="add the annotators").click()
        for username in ("ann", "bo"):
            page.get_by_label("Username").fill(username)
            page.get_by_role("button", name="Add to the team").click()
            assert "joined the team as annotator" in page.get_by_role("status").first.inner_text()
        assert page.locator("#team tbody tr").count() == 3
        shot("06-team")

        # Causes, with htmx swapping the board in place.
        page.get_by_role("link", name="Causes").first.click()
        for name, description, key in [
            ("blurry", "The object is out of focus or moved.", ""),
            ("dark", "Too little light to see the animal.", "d"),
            ("fluffy fur", "Long fur hides the shape of the head.", ""),
            ("fuzzy", "Same as blurry, added by mistake.", ""),
        ]:
            page.locator("#f-name").fill(name)
            page.locator("#f-description").fill(description)
            page.locator("#f-key").fill(key)
            page.get_by_role("button", name="Add the cause").click()
            page.locator(".notice", has_text=f"Cause “{name}”").wait_for()
        names = page.locator("#taxonomy .cause-name").all_inner_texts()
        assert names == ["blurry", "dark", "fluffy fur", "fuzzy"]
        assert page.locator("#taxonomy kbd").all_inner_texts() == ["1", "d", "2", "3"]
        # A key conflict is refused next to the field.
        page.locator("#f-name").fill("cropped")
        page.locator("#f-key").fill("d")
        page.get_by_role("button", name="Add the cause").click()
        page.locator("#f-key-error").wait_for()
        assert "already used by 'dark'" in page.locator("#f-key-error").inner_text()
        assert page.locator("#f-name").input_value() == "cropped"
        shot("07-causes-key-conflict")
        page.locator("#f-name").fill("")
        page.locator("#f-key").fill("")

        # Reorder by keyboard: focus stays on the moved cause's button.
        fluffy_up = page.get_by_role("button", name="Move fluffy fur up")
        fluffy_up.focus()
        page.keyboard.press("Enter")
        page.locator(".notice", has_text="moved up").wait_for()
        assert page.locator("#taxonomy .cause-name").all_inner_texts()[:2] == [
            "blurry",
            "fluffy fur",
        ]
        assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
            "Move fluffy fur up"
        )

        # Inline edit.
        page.locator("#taxonomy .cause", has_text="dark").get_by_role("link", name="Edit").click()
        page.locator("#edit-name").fill("too dark")
        shot("08a-cause-inline-edit")
        page.get_by_role("button", name="Save", exact=True).click()
        page.locator(".notice", has_text="Cause “too dark” saved.").wait_for()
        shot("08-causes")

        # The guide now only asks for a run.
        page.get_by_role("link", name="Overview").click()
        # all_inner_texts does not wait: on a loaded machine it read the causes page.
        page.locator("#next-steps li").first.wait_for()
        steps = page.locator("#next-steps li").all_inner_texts()
        assert len(steps) == 1
        assert steps[0].startswith("No run imported yet")
        shot("09-project-after-setup")

        # Merge the duplicate into the original.
        page.get_by_role("link", name="Causes").first.click()
        page.locator("#taxonomy .cause", has_text="fuzzy").get_by_role(
            "link", name="Merge…"
        ).click()
        page.get_by_label("Merge into").select_option(label="blurry")
        page.get_by_role("button", name="Preview").click()
        assert "will change from “fuzzy” to “blurry”" in page.locator("#merge-preview").inner_text()
        shot("10-merge-preview")
        page.get_by_role("button", name="Merge into “blurry”").click()
        assert "merged into “blurry”" in page.get_by_role("status").first.inner_text()
        assert page.locator("#archived-causes .cause-name").all_inner_texts() == ["fuzzy"]
        shot("11-causes-after-merge")

        # The rest of the lead's pages, looked at.
        page.get_by_role("link", name="Runs").click()
        shot("12-runs")
        page.get_by_role("link", name="Settings").click()
        shot("13-settings")
        page.get_by_role("link", name="Lena Lead").click()
        page.get_by_label("New token's name").fill("notebook")
        page.get_by_role("button", name="Create token").click()
        assert page.locator("#token-secret").inner_text().startswith("eyb_")
        shot("14-account-token")
        assert problems == [], "script errors or Content-Security-Policy refusals"
    finally:
        context.close()


def test_the_demo_lead_edits_a_run_and_sees_cause_counts(
    browser: Any, demo_server: LiveServer, screenshots: Path
) -> None:
    from app.domain.imports.demo import DEMO_PROJECT, read_sign_ins

    lead = next(s for s in read_sign_ins(demo_server.data_dir) if s.username == "lead")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    problems = watch(page)
    try:
        sign_in(page, demo_server.base_url, "lead", lead.password)
        page.get_by_role("link", name=DEMO_PROJECT).click()
        page.get_by_role("link", name="Runs").first.click()
        page.locator("#runs tbody tr").first.get_by_role("link", name="Edit").click()
        page.get_by_label("Human-level error").fill("0.5")
        page.get_by_label("Test error").fill("abc")
        page.get_by_role("button", name="Save the run").click()
        assert "between 0 and 100" in page.locator("#f-test_error-error").inner_text()
        assert page.get_by_label("Human-level error").input_value() == "0.5"
        page.screenshot(path=screenshots / "1-run-edit-error.png", full_page=True)
        page.get_by_label("Test error").fill("11.4")
        page.get_by_role("button", name="Save the run").click()
        row = page.locator("#runs tbody tr").first.inner_text()
        assert "0.5%" in row
        assert "11.4%" in row
        page.screenshot(path=screenshots / "2-runs.png", full_page=True)
        page.get_by_role("link", name="Causes").first.click()
        page.screenshot(path=screenshots / "3-causes.png", full_page=True)
        assert problems == [], "script errors or Content-Security-Policy refusals"
    finally:
        context.close()
