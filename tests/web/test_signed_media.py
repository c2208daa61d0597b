"""With EYEBALL_MEDIA_SIGNED_URLS, an image request is answered, after the same access
check, by a redirect to a short-lived signed URL of the S3 store; the local folder has
no such URLs, so there the app sends the file as before."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.media import blob_original_key
from app.models import MediaBlob
from tests.conftest import sign_in
from tests.factories import make_image, make_project, make_sample, make_user
from tests.media_stores import media_settings, store_of
from tests.routes import url


@pytest.fixture
def settings(media_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return media_settings(media_backend, tmp_path / "data", request, media_signed_urls=True)


@pytest.fixture
def image_sha(session: Session, settings: Settings) -> str:
    blob = make_image(session, store_of(settings))
    member = make_user(session, "member")
    make_sample(session, make_project(session, annotators=[member]), image_sha256=blob.sha256)
    make_user(session, "outsider")
    return blob.sha256


@pytest.mark.parametrize("name", ["media_original", "media_thumbnail"])
def test_an_outsider_gets_no_signed_url(client: TestClient, image_sha: str, name: str) -> None:
    sign_in(client, "outsider")
    answer = client.get(url(client, name, sha256=image_sha))
    assert answer.status_code == 404
    assert "location" not in answer.headers


def test_a_member_is_sent_to_a_signed_url_of_the_bucket(
    client: TestClient, session: Session, settings: Settings, image_sha: str
) -> None:
    sign_in(client, "member")
    answer = client.get(url(client, "media_original", sha256=image_sha))
    if settings.media_backend == "local":
        assert (answer.status_code, answer.headers["content-type"]) == (200, "image/png")
        assert "img-src 'self' data: blob:;" in answer.headers["content-security-policy"]
        return
    # The pages may load images from the store, and from nowhere else new.
    policy = client.get("/").headers["content-security-policy"]
    assert f"img-src 'self' data: blob: {settings.s3_endpoint_url};" in policy
    assert answer.status_code == 307
    location = answer.headers["location"]
    assert location.startswith(f"{settings.s3_endpoint_url}/{settings.s3_bucket}/originals/")
    assert "X-Amz-Expires=300" in location
    assert answer.headers["cache-control"] == "private, max-age=150"
    fetched = httpx.get(location)
    assert (fetched.status_code, fetched.headers["content-type"]) == (200, "image/png")
    assert "immutable" in fetched.headers["cache-control"]
    blob = session.get_one(MediaBlob, image_sha)
    assert fetched.content == store_of(settings).read(blob_original_key(blob))
    # A browser's copy is still revalidated without a redirect.
    etag = f'"{image_sha}-thumbnail"'
    path = url(client, "media_thumbnail", sha256=image_sha)
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
