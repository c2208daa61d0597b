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

It walks them twice: in English, and in Simplified Chinese (a browser that asks for
zh-CN), where it also asserts that no English is left in the interface: no two English
words in a row in the page's text or in the attributes people read, once people's own
data (the demo's project, causes, runs, labels, notes...) and a few names that stay
English everywhere (Eyeball, API, CSV...) are set aside.

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
from app.domain.projects import pipeline
from app.main import create_app
from tests.browser.pages import demo_password, sign_in
from tests.checkout import CHECKOUT
from tests.conftest import EYEBALL, DemoData, LiveServer, start_server

pytestmark = pytest.mark.browser

ADMIN, ADMIN_PASSWORD = "root", "layout-check-admin"
ROLES = ["root", "lead", "alice"]
LANGUAGES = ["en-US", "zh-CN"]
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

# Text that stays English in Chinese pages too: names, formats and code (docs/glossary.md).
ENGLISH_EVERYWHERE = [
    "Eyeball",
    "API",
    "CSV",
    "JSON",
    "xlsx",
    "XLSX",
    "URL",
    "UTC",
    "PNG",
    "ZIP",
    "zip",
    "Krippendorff",
    "Bearer",
    "pandas",
    "httpx",
    "Prometheus",
    "OpenAPI",
    "Swagger",
    "Ctrl",
    "Shift",
    "Enter",
    "Esc",
    "Tab",
    "Alt",
    "Cmd",
    "PostgreSQL",
    "SQLite",
    # The causes a pipeline creates: names like any cause's, shared by the whole team
    # whatever each reads, and found again by name (app/domain/projects/pipeline.py).
    pipeline.GROUP_NAME,
    pipeline.DESIGN_NAME,
    pipeline.AMBIGUOUS_NAME,
]

# The API reference (Swagger UI over the OpenAPI schema) describes the API, which is
# English by contract; only its page title follows the reader.
ENGLISH_PAGES = {"api_docs"}

FIND_ENGLISH = """
(setAside) => {
  const skip = 'script, style, code, pre, kbd, samp, textarea, [translate=no]';
  const words = /[A-Za-z]{2,}(?:[ \u2019'-]+[A-Za-z]{2,})+/g;
  const found = new Set();
  const check = (text, where) => {
    for (const piece of setAside) text = text.split(piece).join(' | ');
    for (const match of text.match(words) || []) found.add(`${where}: "${match}"`);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest(skip) || !node.textContent.trim()) continue;
    check(node.textContent, `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}>`);
  }
  const labelled = '[title], [placeholder], [aria-label], [alt]';
  for (const el of document.querySelectorAll(labelled)) {
    if (el.closest(skip)) continue;
    for (const name of ['title', 'placeholder', 'aria-label', 'alt']) {
      const value = el.getAttribute(name);
      if (value) check(value, `<${el.tagName.toLowerCase()}> ${name}`);
    }
  }
  check(document.title, '<title>');
  return [...found];
}
"""


def people_data(data_dir: Path) -> list[str]:
    """Every text the demo's people and importers gave (names, labels, notes, metadata):
    shown as they wrote it, in any language, so set aside by the English check."""
    found: set[str] = set()
    with sqlite3.connect(data_dir / "eyeball.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                if not re.search(r"CHAR|TEXT|JSON|CLOB|VARCHAR", str(column[2]).upper()):
                    continue
                # Names from the database's own catalogue, not from input.
                query = f'SELECT DISTINCT "{column[1]}" FROM "{table}"'  # noqa: S608
                for (value,) in db.execute(query):
                    if not isinstance(value, str) or not value.strip():
                        continue
                    found.add(value)
                    if value[:1] in "[{":  # JSON: its strings (metadata keys and values)
                        found.update(re.findall(r'"((?:[^"\\]|\\.)*)"', value))
    # Longest first, so a cause name is set aside whole before a shorter name within it.
    return sorted((text for text in found if len(text) > 1), key=len, reverse=True)


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
def signed_in(browser: Any, server: LiveServer) -> Iterator[dict[tuple[str, str], Any]]:
    """A browser context per role and language, signed in once for every page."""
    contexts = {}
    for language in LANGUAGES:
        for username in ROLES:
            context = browser.new_context(viewport={"width": 1366, "height": 768}, locale=language)
            page = context.new_page()
            sign_in(page, server.base_url, username, password_of(server, username))
            page.close()
            contexts[username, language] = context
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


@pytest.fixture(scope="module")
def set_aside(server: LiveServer) -> list[str]:
    return people_data(server.data_dir) + ENGLISH_EVERYWHERE


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", PAGES, ids=lambda r: r.name)
def test_every_page_can_be_seen_and_clicked_at_1366x768(
    route: Route,
    language: str,
    signed_in: dict[tuple[str, str], Any],
    server: LiveServer,
    set_aside: list[str],
    screenshots: Path,
) -> None:
    failures = []
    for username in ROLES:
        context = signed_in[username, language]
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
            if language != "en-US":
                html_lang = page.evaluate("document.documentElement.lang")
                assert html_lang == language, f"{path} as {username}: <html lang={html_lang}>"
                if route.name not in ENGLISH_PAGES:
                    failures += [
                        f"{path} as {username}, English left: {text}"
                        for text in page.evaluate(FIND_ENGLISH, set_aside)
                    ]
        finally:
            page.close()
    assert not failures, "\n".join(failures)
