"""Images and thumbnails, for pages and notebooks alike, under the projects' access rules."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from app.api.deps import ApiUser
from app.dependencies import SessionDep, SettingsDep
from app.domain.errors import NotFound
from app.domain.imports.media import blob_visible_to, original_path, thumbnail_path

router = APIRouter(tags=["media"])

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Content-addressed: a URL's bytes never change. Private: only members may see them.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def _send(request: Request, path: Path, sha256: str, media_type: str, variant: str) -> Response:
    etag = f'"{sha256}-{variant}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if not path.exists():
        raise NotFound("The image file is missing from the media folder.")
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get(
    "/media/{sha256}",
    name="media_original",
    summary="An image at full resolution",
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}}},
        404: {"description": "No such image, or not visible to you"},
    },
)
def original(
    sha256: str, request: Request, user: ApiUser, session: SessionDep, settings: SettingsDep
) -> Response:
    if not SHA256.match(sha256):
        raise NotFound("No such image.")
    blob = blob_visible_to(session, user, sha256)
    return _send(
        request, original_path(settings.media_path, blob), sha256, blob.content_type, "original"
    )


@router.get(
    "/media/{sha256}/thumbnail",
    name="media_thumbnail",
    summary="An image's thumbnail (at most 256 pixels on its long side)",
    responses={
        200: {"content": {"image/png": {}}},
        404: {"description": "No such image, or not visible to you"},
    },
)
def thumbnail(
    sha256: str, request: Request, user: ApiUser, session: SessionDep, settings: SettingsDep
) -> Response:
    if not SHA256.match(sha256):
        raise NotFound("No such image.")
    blob = blob_visible_to(session, user, sha256)
    return _send(
        request, thumbnail_path(settings.media_path, blob.sha256), sha256, "image/png", "thumbnail"
    )
