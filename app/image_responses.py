"""A stored image sent over HTTP: the same bytes and cache headers to a page and to the API."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.domain.errors import NotFound
from app.domain.imports.media import original_path, thumbnail_path
from app.models import MediaBlob

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


def original_response(request: Request, media_dir: Path, blob: MediaBlob) -> Response:
    path = original_path(media_dir, blob)
    return _send(request, path, blob.sha256, blob.content_type, "original")


def thumbnail_response(request: Request, media_dir: Path, blob: MediaBlob) -> Response:
    path = thumbnail_path(media_dir, blob.sha256)
    return _send(request, path, blob.sha256, "image/png", "thumbnail")
