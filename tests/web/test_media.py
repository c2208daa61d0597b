"""Images are served to the members of a project that shows them, and cached forever."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.accounts.users import create_token
from app.domain.imports.media import prepare_image, store_image
from tests.conftest import sign_in
from tests.factories import make_project, make_sample, make_user
from tests.routes import url


@pytest.fixture
def image_sha(session: Session, settings: Settings) -> str:
    out = io.BytesIO()
    Image.new("RGB", (300, 150), "orange").save(out, format="PNG")
    blob = store_image(session, settings.media_path, prepare_image(out.getvalue()))
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


def test_notebooks_fetch_images_with_a_token(
    client: TestClient, session: Session, image_sha: str
) -> None:
    from app.domain.accounts.users import get_user_by_username

    member = get_user_by_username(session, "member")
    assert member is not None
    token = create_token(session, member, "nb").secret
    response = client.get(f"/media/{image_sha}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


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


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, image_sha: str) -> None:
    assert client.get(f"/media/{image_sha}").status_code == 303


def test_a_missing_file_is_a_clear_404_not_a_crash(
    client: TestClient, image_sha: str, settings: Settings
) -> None:
    for path in Path(settings.media_path, "thumbs").rglob("*.png"):
        path.unlink()
    sign_in(client, "member")
    response = client.get(f"/media/{image_sha}/thumbnail")
    assert response.status_code == 404
    assert "missing from the media folder" in response.text
