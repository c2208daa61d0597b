"""Images kept in an S3 bucket and handed out as signed URLs, in a real Chromium: the sheet's
thumbnails and the review screen's image load from the store (past the redirect and the
Content-Security-Policy), at the size the layout gives them."""

from __future__ import annotations

import base64
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from PIL import Image

from app import api as api_routes
from app.web import sheet as sheet_routes
from tests.checkout import CHECKOUT
from tests.conftest import EYEBALL, LiveServer, start_server
from tests.media_stores import S3Server

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"


def picture(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), ((i * 70) % 256, (i * 40) % 256, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def s3_site(tmp_path: Path, s3_server: S3Server) -> Iterator[tuple[LiveServer, str, str]]:
    """A server keeping its images in a bucket, signed URLs on; its lead's API token."""
    env = {**s3_server.env(s3_server.new_bucket()), "EYEBALL_MEDIA_SIGNED_URLS": "true"}
    data_dir = tmp_path / "site"

    def eyeball(*args: str) -> str:
        done = subprocess.run(
            [*EYEBALL, *args],
            cwd=CHECKOUT,
            env={"EYEBALL_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    eyeball("db", "upgrade")
    eyeball("user", "create", "lead", "--password", PASSWORD, "--admin")
    token = eyeball("token", "create", "lead", "--name", "test").strip().splitlines()[-1]
    server = start_server(data_dir, env=env)
    try:
        yield server, s3_server.endpoint_url, token
    finally:
        server.stop()


def test_thumbnails_and_images_load_from_the_bucket_by_signed_urls(
    browser: Any, s3_site: tuple[LiveServer, str, str], screenshots: Path
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    server, endpoint, token = s3_site
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Refused to" in m.text else None)
    from_store: list[str] = []
    page.on("response", lambda r: from_store.append(r.url) if r.url.startswith(endpoint) else None)
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response", lambda r: failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None
    )

    def loaded(predicate: str) -> None:
        # A function, not an expression: the page's CSP forbids eval, which Playwright
        # uses for an expression it must poll. Generous: a loaded machine is slow.
        try:
            page.wait_for_function(predicate, timeout=120_000)
        except PlaywrightTimeout:
            raise AssertionError(f"the images did not load; failed requests: {failed}") from None

    try:
        page.goto(server.base_url + "/sign-in")
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(server.base_url + "/")
        # The project and its images through the API, as a notebook would push them.
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            project = api.post(
                str(api_routes.router.url_path_for("api_create_project")),
                json={"name": "In a bucket", "kind": "image", "labels": ["cat", "dog"]},
            ).json()
            samples = [
                {
                    "id": f"img-{i}",
                    "label": "cat",
                    "prediction": "dog",
                    "image_base64": base64.b64encode(picture(i)).decode(),
                }
                for i in range(6)
            ]
            path = api_routes.router.url_path_for(
                "api_push_predictions", project_id=project["id"], run="v1"
            )
            assert api.post(str(path), json={"samples": samples}).status_code == 201

        sheet = sheet_routes.router.url_path_for("sheet", project_id=project["id"], run="v1")
        page.goto(server.base_url + str(sheet))
        thumbs = page.locator("#sheet tbody img")
        assert thumbs.count() == 6
        loaded(
            "() => [...document.querySelectorAll('#sheet tbody img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=screenshots / "sheet-thumbnails-from-s3.png")
        for i in range(6):
            box = thumbs.nth(i).bounding_box()
            assert box is not None
            assert (round(box["width"]), round(box["height"])) == (40, 40)
        assert len([u for u in from_store if "/thumbs/" in u]) == 6

        thumbs.first.click()
        image = page.locator("#media-image")
        image.wait_for()
        # Null-safe: the review screen swaps its fragments in as they arrive.
        loaded(
            "() => (i => i !== null && i.complete && i.naturalWidth === 96)"
            "(document.querySelector('#media-image'))"
        )
        page.screenshot(path=screenshots / "review-image-from-s3.png")
        shown = image.bounding_box()
        assert shown is not None
        assert shown["width"] > 96, "the image is scaled up to the review screen's frame"
        assert any("/originals/" in u for u in from_store)
        assert refused == []
    finally:
        context.close()
