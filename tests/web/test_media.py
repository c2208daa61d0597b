"""Images on the pages: served to the members of a project that shows them, cached forever.

Notebooks fetch the same images with a token under /api/v1/media (tests/api/test_media_api.py);
these routes take a browser's sign-in only.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.store import thumbnail_key
from tests.conftest import sign_in
from tests.factories import bearer, make_image, make_project, make_sample, make_user
from tests.media_stores import S3Server, store_of
from tests.routes import url


@pytest.fixture
def settings(stored_settings: Settings) -> Settings:
    """Every test here runs with the media in the local folder, then in a bucket."""
    return stored_settings


@pytest.fixture
def image_sha(session: Session, settings: Settings) -> str:
    blob = make_image(session, store_of(settings))
    member = make_user(session, "member")
    project = make_project(session, annotators=[member])
    make_sample(session, project, image_sha256=blob.sha256, text=None)
    make_user(session, "outsider")
    return blob.sha256


def test_members_get_the_image_and_its_thumbnail(client: TestClient, image_sha: str) -> None:
    sign_in(client, "member")
    original = client.get(url(client, "media_original", sha256=image_sha))
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(original.content)).size == (300, 150)
    thumb = client.get(url(client, "media_thumbnail", sha256=image_sha))
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 128)


def test_images_are_cached_for_good_and_revalidate_with_etag(
    client: TestClient, image_sha: str
) -> None:
    sign_in(client, "member")
    path = url(client, "media_thumbnail", sha256=image_sha)
    first = client.get(path)
    assert "immutable" in first.headers["cache-control"]
    assert "private" in first.headers["cache-control"]
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/media/{sha}",
        "/media/{sha}/thumbnail",
        "/media/0000/thumbnail",
        "/media/..%2F..%2Fsecret_key",
    ],
)
def test_outsiders_and_bad_names_get_not_found(
    client: TestClient, image_sha: str, path: str
) -> None:
    sign_in(client, "outsider")
    assert client.get(path.format(sha=image_sha)).status_code == 404


@pytest.mark.parametrize("name", ["media_original", "media_thumbnail"])
def test_without_a_sign_in_the_page_route_sends_to_sign_in_even_with_a_token(
    client: TestClient, session: Session, image_sha: str, name: str
) -> None:
    path = url(client, name, sha256=image_sha)
    sign_in_page = url(client, "sign_in")
    for headers in ({}, bearer(session, "member")):
        response = client.get(path, headers=headers)
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"{sign_in_page}?next=")


def test_a_missing_file_is_a_clear_404_not_a_crash(
    client: TestClient, image_sha: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    if settings.media_backend == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        s3.client.delete_object(Bucket=settings.s3_bucket, Key=thumbnail_key(image_sha))
    else:
        for path in Path(settings.media_path, "thumbs").rglob("*.png"):
            path.unlink()
    sign_in(client, "member")
    response = client.get(f"/media/{image_sha}/thumbnail")
    assert response.status_code == 404
    assert "missing from the media store" in response.text
