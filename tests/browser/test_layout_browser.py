"""Every page, as each role sees it at 1366×768, can be seen and clicked.

The sheet once rendered its cause headers 1,250 px tall with every row hidden under
them while every DOM-level test passed. So this walks every HTML page the app routes
(taken from the app's routes, so a new page is checked without a new test), opens it as
an admin, the demo lead and an annotator, and asserts on geometry:

- every visible link, button and form field is hit-testable: the element at its
  centre (once scrolled into view) is itself or inside it;
- no leaf element, table cell or control is taller than the viewport, unless it is a
  scroller;
- the page does not scroll sideways: wide content scrolls inside its own frame.

The screenshots are kept under test-output/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import BaseRoute, Route

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.browser.pages import demo_password, sign_in
from tests.checkout import CHECKOUT
from tests.conftest import EYEBALL, DemoData, LiveServer, start_server

pytestmark = pytest.mark.browser

ADMIN, ADMIN_PASSWORD = "root", "layout-check-admin"
ROLES = ["root", "lead", "alice"]
# Routes that are not pages a person looks at.
NOT_PAGES = {"openapi", "project_events", "sheet_csv", "sheet_xlsx", "label_corrections"}
NOT_PAGES |= {"label_suspects_csv"}
# The pages' images: files, checked by tests/web/test_media.py.
NOT_PAGES |= {"media_original", "media_thumbnail"}
# The one page the demo cannot open: an import job's progress needs an upload, and
# tests/browser/test_import_browser.py opens it.
NOT_PAGES.add("import_job")
# Prometheus text for the server's operators, checked by tests/web/test_operations.py.
NOT_PAGES.add("metrics")

FIND_PROBLEMS = """
() => {
  const vh = window.innerHeight;
  const problems = [];
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
    return `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}> "${text.slice(0, 40)}"`;
  };
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) return false;  // visually hidden on purpose
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.opacity === '0') return false;
    return !el.closest('dialog:not([open]), [hidden], [inert]');
  };
  const scroller = (el) => /(auto|scroll)/.test(getComputedStyle(el).overflowX +
                                                 getComputedStyle(el).overflowY);
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    el.scrollIntoView({block: 'center', inline: 'center'});
    const box = el.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    const ok = hit && (hit === el || el.contains(hit) ||
                       [...(el.labels || [])].some((label) => label.contains(hit)));
    if (!ok) problems.push(`${describe(el)} is covered by ${hit ? describe(hit) : 'nothing'}`);
  }
  window.scrollTo(0, 0);
  for (const el of document.querySelectorAll('body *')) {
    if (!shown(el) || scroller(el)) continue;
    const leafLike = el.children.length === 0 || el.matches('th, td, ' + controls);
    const height = el.getBoundingClientRect().height;
    if (leafLike && height > vh) problems.push(`${describe(el)} is ${Math.round(height)} px tall`);
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) {
    problems.push(`the page scrolls sideways: ${page.scrollWidth} px in ${page.clientWidth}`);
  }
  return problems;
}
"""


def _routes(routes: list[BaseRoute]) -> Iterator[Route]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, Route):
            yield route


def page_routes() -> list[Route]:
    """Every GET route of the web pages: those left out of the API's schema (the API is
    held to its schema by tests/api/test_openapi_schema.py)."""
    with tempfile.TemporaryDirectory() as folder:  # the app makes its media folder
        settings = Settings(data_dir=Path(folder), secret_key="x" * 40)
        app = create_app(settings, Database.from_url("sqlite://"))
        return [
            r
            for r in _routes(app.routes)
            if "GET" in (r.methods or set())
            and getattr(r, "include_in_schema", True) is False
            and r.name not in NOT_PAGES
        ]


PAGES = page_routes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_data: DemoData) -> Iterator[LiveServer]:
    """A demo server of its own: opening the review screen leases errors."""
    data_dir = demo_data.copy_to(tmp_path_factory.mktemp("layout") / "data")
    live = start_server(data_dir, args=["--demo"])
    eyeball(live, "user", "create", ADMIN, "--admin", "--password", ADMIN_PASSWORD)
    for username in ROLES:  # for the page that revokes one's own token
        eyeball(live, "token", "create", username, "--name", "layout check")
    yield live
    live.stop()


def eyeball(server: LiveServer, *args: str) -> None:
    """The `eyeball` command on the server's data folder."""
    subprocess.run(
        [*EYEBALL, *args],
        cwd=CHECKOUT,
        env={**os.environ, "EYEBALL_DATA_DIR": str(server.data_dir)},
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def signed_in(browser: Any, server: LiveServer) -> Iterator[dict[str, Any]]:
    """A browser context per role, signed in once for every page."""
    contexts = {}
    for username in ROLES:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        sign_in(page, server.base_url, username, password_of(server, username))
        page.close()
        contexts[username] = context
    yield contexts
    for context in contexts.values():
        context.close()


def demo_ids(data_dir: Path, username: str) -> dict[str, str]:
    """The path parameters of a page as `username` opens it, from the demo's own rows."""
    with sqlite3.connect(data_dir / "eyeball.db") as db:

        def one(query: str, *params: str) -> str:
            row = db.execute(query, params).fetchone()
            assert row is not None, query
            return str(row[0])

        # The demo has two runs, both with errors under review: take the first run's.
        run_id = one("SELECT id FROM run ORDER BY id LIMIT 1")
        return {
            "project_id": one("SELECT id FROM project ORDER BY id LIMIT 1"),
            "run": one("SELECT name FROM run ORDER BY id LIMIT 1"),
            "run_name": one("SELECT name FROM run ORDER BY id LIMIT 1"),
            "run_id": run_id,
            "cause_id": one("SELECT id FROM cause ORDER BY id LIMIT 1"),
            "prediction_id": one(
                "SELECT id FROM prediction WHERE in_review AND run_id = ?"
                " ORDER BY review_order LIMIT 1",
                run_id,
            ),
            "external_id": one(
                "SELECT s.external_id FROM prediction p JOIN sample s ON s.id = p.sample_id"
                " WHERE p.in_review AND p.run_id = ? ORDER BY p.review_order LIMIT 1",
                run_id,
            ),
            "user_id": one("SELECT id FROM user_account WHERE username = 'alice'"),
            "check_id": one(
                "SELECT id FROM label_check WHERE run_id = ? ORDER BY position LIMIT 1", run_id
            ),
            "token_id": one(
                "SELECT t.id FROM api_token t JOIN user_account u ON u.id = t.user_id"
                " WHERE u.username = ?",
                username,
            ),
        }


def fill(ids: dict[str, str], parameter: re.Match[str]) -> str:
    return ids[parameter.group(1)]


def password_of(server: LiveServer, username: str) -> str:
    if username == ADMIN:
        return ADMIN_PASSWORD
    return demo_password(server.data_dir, username)


@pytest.mark.parametrize("route", PAGES, ids=lambda r: r.name)
def test_every_page_can_be_seen_and_clicked_at_1366x768(
    route: Route, signed_in: dict[str, Any], server: LiveServer, screenshots: Path
) -> None:
    failures = []
    for username, context in signed_in.items():
        ids = demo_ids(server.data_dir, username)
        missing = set(re.findall(r"{(\w+)", route.path)) - set(ids)
        assert not missing, f"{route.name}: say how to fill {missing} from the demo"
        path = re.sub(r"{(\w+)(:\w+)?}", partial(fill, ids), route.path)
        page = context.new_page()
        try:
            response = page.goto(server.base_url + path)
            assert response is not None
            assert response.status < 500, f"{path} as {username}: {response.status}"
            assert response.headers["content-type"].startswith("text/html"), path
            page.screenshot(path=screenshots / f"{username}.png")
            failures += [f"{path} as {username}: {p}" for p in page.evaluate(FIND_PROBLEMS)]
        finally:
            page.close()
    assert failures == []
