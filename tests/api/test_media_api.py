"""Images for notebooks: GET /api/v1/media/{sha256} (and its thumbnail) with a token."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.accounts.users import create_token, revoke_token
from app.models import User
from tests.conftest import sign_in
from tests.factories import bearer, make_image, make_project, make_sample, make_user
from tests.media_stores import store_of
from tests.routes import url

ROUTES = ["api_media_original", "api_media_thumbnail"]


@pytest.fixture
def settings(stored_settings: Settings) -> Settings:
    """Every test here runs with the media in the local folder, then in a bucket."""
    return stored_settings


@pytest.fixture
def member(session: Session) -> User:
    return make_user(session, "member")


@pytest.fixture
def image_sha(session: Session, settings: Settings, member: User) -> str:
    blob = make_image(session, store_of(settings))
    project = make_project(session, annotators=[member])
    make_sample(session, project, image_sha256=blob.sha256, text=None)
    return blob.sha256


def test_a_member_with_a_token_gets_the_image_and_its_thumbnail(
    client: TestClient, session: Session, member: User, image_sha: str
) -> None:
    headers = bearer(session, member)
    original = client.get(url(client, "api_media_original", sha256=image_sha), headers=headers)
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(original.content)).size == (300, 150)
    thumb = client.get(url(client, "api_media_thumbnail", sha256=image_sha), headers=headers)
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 128)
    assert "immutable" in thumb.headers["cache-control"]
    again = client.get(
        url(client, "api_media_thumbnail", sha256=image_sha),
        headers={**headers, "If-None-Match": thumb.headers["etag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize("name", ROUTES)
def test_a_missing_unknown_or_revoked_token_is_a_401_in_json(
    client: TestClient, session: Session, member: User, image_sha: str, name: str
) -> None:
    issued = create_token(session, member, "old")
    revoke_token(session, member, issued.token.id)
    for headers in (
        {},
        {"Authorization": "Bearer eyb_not-a-token"},
        {"Authorization": f"Bearer {issued.secret}"},
    ):
        response = client.get(url(client, name, sha256=image_sha), headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]


@pytest.mark.parametrize("name", ROUTES)
def test_an_image_the_caller_may_not_see_looks_missing(
    client: TestClient, session: Session, image_sha: str, name: str
) -> None:
    headers = bearer(session, make_user(session, "outsider"))
    for sha256 in (image_sha, "0" * 64, "not-a-hash"):
        response = client.get(url(client, name, sha256=sha256), headers=headers)
        assert (response.status_code, response.json()) == (404, {"detail": "No such image."})


def test_a_signed_in_browser_may_read_images_through_the_api_too(
    client: TestClient, image_sha: str
) -> None:
    sign_in(client, "member")
    assert client.get(url(client, "api_media_original", sha256=image_sha)).status_code == 200
