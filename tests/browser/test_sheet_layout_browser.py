"""The error sheet with 30 causes at 1366×768, as a lead reads it, asserted on geometry.

A project with 30 causes (some with long names, all with a description), overlap 2 and
45 errors, a third of them with disagreements, served from a data folder of its own.
In real Chromium:

- every cause column's header, body cell and footer cells (count, share, ceiling,
  agreement) share one left edge and one width;
- the page never scrolls sideways: the sheet scrolls inside its frame, and the header
  stays under a fifth of the screen;
- scrolled sideways, the first column (thumbnail and id) stays at the frame's left edge
  and covers the cells scrolling under it;
- scrolled down, a row's id link and its "adjudicate" link are the elements under
  their own centres: the sticky header and footer cover nothing that is in view;
- a cause header, focused from the keyboard or hovered, shows the cause's whole name
  (and its description) in a tooltip that stays on screen.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from app import schema
from app.db import Database
from app.domain.analysis.sheet import CauseColumn
from app.domain.imports.media import prepare_image, store_image
from app.domain.projects.access import get_access
from app.domain.review.annotations import Draft, save
from app.models import AnnotationStatus, Cause, CauseGroup, GroupKind
from tests.browser.pages import sign_in, watch
from tests.conftest import LiveServer, start_server
from tests.factories import (
    PASSWORD,
    default_group,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}
CAUSES = [
    "Blurry",
    "Too dark",
    "Overexposed",
    "Occluded by another object",
    "Cropped at the edge of the frame",
    "Tiny object",
    "Motion blur",
    "Unusual pose",
    "Rare breed",
    "Two animals in one picture",
    "Cartoon or drawing, not a photo",
    "Reflection in a mirror or window",
    "Watermark or text over the image",
    "Black and white",
    "Label noise from the vendor",
    "Ambiguous even for a person",
    "Background dominates",
    "Toy or statue",
    "Camera noise",
    "Compression artefacts",
    "Rotated",
    "Fur colour unusual",
    "Shadow across the face",
    "Taken through a fence",
    "Close-up of a part only",
    "Night-time infrared camera picture with a strong green tint",
    "Puppy or kitten",
    "Mislabelledbythevendorpipelinebeforeversiontwo",
    "Wet fur",
    "Other",
]
LONG = CAUSES[25]  # cut to three lines in its header
ERRORS = 45


@dataclass
class Sheet:
    server: LiveServer
    path: str
    causes: dict[int, str]
    descriptions: dict[int, str]


def thumbnail(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


def build(database: Database, media_dir: Path) -> tuple[int, dict[int, str], dict[int, str]]:
    """The project's id, and its causes' names and descriptions by id."""
    with database.transaction() as session:
        lead, ann, bob = (make_user(session, name) for name in ("lead", "ann", "bob"))
        project = make_project(
            session, lead, annotators=[ann, bob], name="Pets, 30 causes", overlap=2
        )
        run = make_run(session, project, name="resnet-7", evaluated=400)
        groups = [default_group(session, project)]
        for i, name in enumerate(["Image quality", "Content"], start=1):
            groups.append(CauseGroup(project_id=project.id, name=name, kind=GroupKind.MULTI))
            groups[-1].position = i
            session.add(groups[-1])
        session.flush()
        causes: list[Cause] = [
            make_cause(
                session,
                project,
                name,
                group=groups[i % 3],
                position=i,
                description=f"When {name.lower()} is why the model got it wrong.",
            )
            for i, name in enumerate(CAUSES)
        ]
        errors = []
        for i in range(ERRORS):
            blob = store_image(
                session,
                media_dir,
                prepare_image(thumbnail(((i * 53) % 256, (i * 97) % 256, (i * 31) % 256))),
            )
            sample = make_sample(
                session,
                project,
                external_id=f"img-{i:04d}",
                label="cat" if i % 2 else "dog",
                image_sha256=blob.sha256,
            )
            errors.append(
                make_prediction(
                    session,
                    run,
                    sample,
                    label="dog" if i % 2 else "fox",
                    review_order=i,
                    confidence=0.3 + (i % 7) / 10,
                )
            )
        rng = random.Random(12)
        for i, error in enumerate(errors[:36]):
            first = frozenset(c.id for c in rng.sample(causes, rng.choice([1, 2, 2, 3])))
            # Every third error: bob sees it differently, so the lead may adjudicate it.
            second = first if i % 3 else frozenset({causes[(i + 11) % 30].id})
            for user, marked in ((ann, first), (bob, second)):
                save(
                    session,
                    get_access(session, user, project.id),
                    error,
                    Draft(
                        marked,
                        label_error=i % 9 == 0,
                        note="ear cut off at the top" if i % 5 == 0 else "",
                        status=AnnotationStatus.DONE,
                    ),
                    expected_version=0,
                )
        return (
            project.id,
            {c.id: c.name for c in causes},
            {c.id: c.description for c in causes},
        )


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sheet]:
    data_dir = tmp_path_factory.mktemp("sheet-layout") / "data"
    data_dir.mkdir(parents=True)
    database = Database.from_url(f"sqlite:///{data_dir / 'eyeball.db'}")
    try:
        schema.upgrade(database.engine)
        project_id, causes, descriptions = build(database, data_dir / "media")
    finally:
        database.dispose()
    server = start_server(data_dir)
    try:
        yield Sheet(server, f"/projects/{project_id}/runs/latest/sheet", causes, descriptions)
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any, sheet: Sheet) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems = watch(page)
    sign_in(page, sheet.server.base_url, "lead", PASSWORD)
    page.goto(sheet.server.base_url + sheet.path)
    yield page
    context.close()
    assert problems == [], "script errors or Content-Security-Policy refusals"


def box(page: Any, selector: str) -> dict[str, float]:
    found: dict[str, float] | None = page.evaluate(
        """(selector) => {
             const el = document.querySelector(selector);
             if (!el) return null;
             const b = el.getBoundingClientRect();
             return {left: b.left, right: b.right, top: b.top, bottom: b.bottom,
                     width: b.width, height: b.height};
           }""",
        selector,
    )
    assert found is not None, f"nothing matches {selector}"
    return found


HIT = """(el) => {
  const b = el.getBoundingClientRect();
  const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
  return hit === el || el.contains(hit) ? null : (hit ? hit.outerHTML.slice(0, 120) : 'nothing');
}"""


def test_every_cause_column_lines_up_from_header_to_footer(
    page: Any, sheet: Sheet, screenshots: Path
) -> None:
    page.screenshot(path=screenshots / "sheet-30-causes.png")
    assert page.locator("#sheet thead th.cause[data-cause]").count() == len(CAUSES)
    footer_rows = ["count-row", "share-row", "ceiling-row", "agreement-row"]
    misaligned = []
    for cause_id, name in sheet.causes.items():
        cells = [f'#sheet thead th[data-cause="{cause_id}"]']
        cells.append(f'#sheet tbody tr:nth-child(5) td[data-cause="{cause_id}"]')
        cells += [f'#sheet tfoot .{row} td[data-cause="{cause_id}"]' for row in footer_rows]
        header, *others = (box(page, c) for c in cells)
        for selector, other in zip(cells[1:], others, strict=True):
            if abs(other["left"] - header["left"]) > 1 or abs(other["width"] - header["width"]) > 1:
                misaligned.append(f"{name}: {selector} at {other} under {header}")
    assert misaligned == []


def test_the_sheet_scrolls_in_its_frame_with_a_short_header(page: Any, sheet: Sheet) -> None:
    sizes = page.evaluate(
        """() => {
             const wrap = document.querySelector('.sheet-wrap');
             const root = document.documentElement;
             return {page: root.scrollWidth - root.clientWidth,
                     frame: wrap.scrollWidth - wrap.clientWidth,
                     frameBottom: wrap.getBoundingClientRect().bottom,
                     rem: parseFloat(getComputedStyle(root).fontSize)};
           }"""
    )
    assert sizes["page"] <= 0, "the page scrolls sideways"
    assert sizes["frame"] > 500, "30 causes are wider than the screen: the frame scrolls"
    assert sizes["frameBottom"] <= VIEWPORT["height"], "the footer is in view on arrival"
    header = box(page, "#sheet thead")
    assert header["height"] <= 8 * sizes["rem"]
    # The long name is cut in its header, not left to stretch it.
    long_id = next(i for i, n in sheet.causes.items() if n == LONG)
    assert box(page, f'#sheet thead th[data-cause="{long_id}"]')["width"] < 8 * sizes["rem"]


def test_the_first_column_stays_at_the_left_edge_when_scrolled_sideways(
    page: Any, screenshots: Path
) -> None:
    wrap = page.locator(".sheet-wrap")
    wrap.evaluate("(el) => { el.scrollLeft = 900; }")
    assert wrap.evaluate("(el) => el.scrollLeft") == 900
    edge = wrap.evaluate("(el) => el.getBoundingClientRect().left + el.clientLeft")
    for selector in (
        "#sheet thead th.row-head",
        "#sheet tbody tr:nth-child(3) th.row-head",
        "#sheet tfoot .ceiling-row th",
    ):
        assert abs(box(page, selector)["left"] - edge) <= 1, selector
    # Opaque and on top: the cells scrolled under it do not show through or catch clicks.
    link = page.locator("#sheet tbody tr:nth-child(3) th.row-head a")
    assert link.evaluate(HIT) is None
    corner = page.locator("#sheet thead th.row-head a")
    assert corner.evaluate(HIT) is None
    page.screenshot(path=screenshots / "sheet-30-causes-scrolled-sideways.png")


def test_rows_scrolled_into_view_can_be_clicked(page: Any, sheet: Sheet) -> None:
    wrap = page.locator(".sheet-wrap")
    rows = page.locator("#sheet tbody tr")
    assert rows.count() == ERRORS
    header_height = box(page, "#sheet thead")["height"]
    for index in (12, 24, 33):  # 33: bob disagreed, so the lead may adjudicate
        row = rows.nth(index)
        # Scrolled down until the row sits just under the sticky header.
        wrap.evaluate(
            "(el, [row, header]) => { el.scrollTop = row.offsetTop - header; }",
            [row.element_handle(), header_height],
        )
        assert row.locator("th.row-head a").evaluate(HIT) is None, f"row {index}'s id link"
        assert row.locator("th.row-head a").inner_text() == f"img-{index:04d}"
    row = rows.nth(33)
    adjudicate = row.get_by_role("link", name="adjudicate")
    wrap.evaluate(
        "(el, [row, header]) => { el.scrollTop = row.offsetTop - header;"
        " el.scrollLeft = el.scrollWidth; }",
        [row.element_handle(), header_height],
    )
    assert adjudicate.evaluate(HIT) is None
    adjudicate.click()
    page.wait_for_url("**/adjudication")


def test_a_cause_header_shows_its_whole_name_on_focus_and_hover(
    page: Any, sheet: Sheet, screenshots: Path
) -> None:
    cause_id = next(i for i, n in sheet.causes.items() if n == LONG)
    header = page.locator(f'#sheet thead th[data-cause="{cause_id}"]')
    link = header.get_by_role("link")
    tip = header.locator(".cause-tip")
    expect(tip).to_be_hidden()
    # The link's accessible name is the whole name, though the header shows three lines.
    expect(page.get_by_role("link", name=LONG, exact=True)).to_have_count(1)
    assert header.locator(".cause-name").evaluate("(el) => el.scrollHeight > el.clientHeight")
    previous = page.locator(f'#sheet thead th.cause:has(+ th[data-cause="{cause_id}"]) a')
    previous.focus()
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(LONG)
    if "description" in {f.name for f in fields(CauseColumn)}:
        expect(tip).to_contain_text(sheet.descriptions[cause_id])
        expect(link).to_have_accessible_description(
            f"{LONG} Image quality {sheet.descriptions[cause_id]}"
        )
    shown = tip.bounding_box()
    assert shown is not None
    assert shown["x"] >= 0
    assert shown["x"] + shown["width"] <= VIEWPORT["width"]
    assert shown["y"] + shown["height"] <= VIEWPORT["height"]
    page.screenshot(path=screenshots / "sheet-30-causes-header-focused.png")
    page.keyboard.press("Tab")
    expect(tip).to_be_hidden()
    # With a mouse: the rightmost cause's tooltip flips to stay on screen.
    last = page.locator("#sheet thead th.cause[data-cause]").last
    page.locator(".sheet-wrap").evaluate("(el) => { el.scrollLeft = 0; }")
    last.scroll_into_view_if_needed()
    last.hover()
    shown = last.locator(".cause-tip").bounding_box()
    assert shown is not None
    assert shown["x"] + shown["width"] <= VIEWPORT["width"]
    page.screenshot(path=screenshots / "sheet-30-causes-header-hovered.png")
