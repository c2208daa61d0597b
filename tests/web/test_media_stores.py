"""The media stores seen from the browser: a page import puts its images in the configured
store (the local folder or an S3 bucket), the pages show them to members only, a
re-import stores nothing again (signed URLs: tests/web/test_signed_media.py)."""

from __future__ import annotations

import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.media import blob_original_key
from app.domain.imports.store import MediaStore, thumbnail_key
from app.models import MediaBlob, Project, Sample
from tests.conftest import csrf_token, sign_in
from tests.factories import make_project, make_user
from tests.importing import csv_bytes, image_rows, images_for, zip_bytes
from tests.media_stores import S3Server, store_of
from tests.pages import attr, one, soup
from tests.routes import url


@pytest.fixture
def settings(stored_settings: Settings) -> Settings:
    return stored_settings


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.state.run_in_background = lambda work: work()
    return app


def import_through_the_page(
    client: TestClient, project: Project, manifest: bytes, images: bytes, run: str
) -> list[str]:
    """Upload, preview and confirm; the preview's thumbnails (data: URLs)."""
    files = [
        ("manifest", ("preds.csv", manifest, "text/csv")),
        ("images", ("images.zip", images, "application/zip")),
    ]
    data = {"csrftoken": csrf_token(client), "run": run}
    checked = client.post(
        url(client, "import_upload", project_id=project.id), data=data, files=files
    )
    assert checked.status_code == 303
    preview = soup(client.get(checked.headers["location"]).text)
    thumbnails = [attr(img, "src") for img in preview.select("#preview-rows img.preview-thumb")]
    confirm = one(preview, "form.confirm-import")
    done = client.post(attr(confirm, "action"), data={"csrftoken": one(confirm, "input")["value"]})
    assert done.status_code == 303
    return thumbnails


def stored_keys(settings: Settings, store: MediaStore, request: pytest.FixtureRequest) -> set[str]:
    if settings.media_backend == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return s3.keys(settings.s3_bucket)
    root = store.folder
    return {
        str(p.relative_to(root))
        for top in ("originals", "thumbs", "archives")
        for p in (root / top).rglob("*")
        if p.is_file()
    }


def test_a_page_import_then_its_images_for_members_only_and_a_reimport_stores_nothing(
    client: TestClient, session: Session, settings: Settings, request: pytest.FixtureRequest
) -> None:
    lead, member = make_user(session, "lead"), make_user(session, "member")
    make_user(session, "outsider")
    project = make_project(session, lead, annotators=[member], labels=["cat", "dog"])
    rows = image_rows(5, 3)
    images = images_for(rows)
    sign_in(client, "lead")
    first = import_through_the_page(client, project, csv_bytes(rows), zip_bytes(images), run="v1")
    assert len(first) == 5
    blobs = {b.sha256: b for b in session.scalars(select(MediaBlob))}
    assert len(blobs) == 5
    store = store_of(settings)
    keys = stored_keys(settings, store, request)
    assert {blob_original_key(b) for b in blobs.values()} <= keys
    assert {thumbnail_key(sha) for sha in blobs} <= keys
    assert len([k for k in keys if k.startswith("archives/")]) == 1
    if settings.media_backend == "s3":  # the bucket holds them, not the disk
        assert not (settings.media_path / "originals").exists()

    # The same zip into another run: every image known, none stored again, and the
    # preview's thumbnails now come out of the store.
    again = import_through_the_page(client, project, csv_bytes(rows), zip_bytes(images), run="v2")
    assert again == first
    assert stored_keys(settings, store, request) == keys

    client.cookies.clear()
    sign_in(client, "member")
    sample = session.scalars(select(Sample).where(Sample.project_id == project.id)).first()
    assert sample is not None
    assert sample.image_sha256 is not None
    original = client.get(url(client, "media_original", sha256=sample.image_sha256))
    assert original.status_code == 200
    assert original.content in images.values()
    assert original.headers["content-length"] == str(len(original.content))
    thumb = client.get(url(client, "media_thumbnail", sha256=sample.image_sha256))
    assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(thumb.content)).size == (8, 8)

    client.cookies.clear()
    sign_in(client, "outsider")
    for name in ("media_original", "media_thumbnail"):
        assert client.get(url(client, name, sha256=sample.image_sha256)).status_code == 404
