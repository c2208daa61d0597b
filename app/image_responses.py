"""A stored image sent over HTTP: the same bytes and cache headers to a page and to the API.

After the caller's access check, the image is sent by the app (a file from the local
folder, or streamed from the bucket) or, with signed URLs on, the answer is a redirect to
a short-lived URL of the store itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from app.config import Settings
from app.domain.errors import NotFound
from app.domain.imports.media import blob_original_key
from app.domain.imports.store import CACHE_CONTROL, MediaStore, thumbnail_key
from app.models import MediaBlob

MISSING = "The image file is missing from the media store."


def _send(
    request: Request,
    settings: Settings,
    store: MediaStore,
    key: str,
    sha256: str,
    media_type: str,
    variant: str,
) -> Response:
    etag = f'"{sha256}-{variant}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if settings.media_signed_urls:
        seconds = settings.media_signed_url_seconds
        signed = store.signed_url(key, media_type, seconds)
        if signed is not None:
            # The redirect may be kept for a while, never past its URL's expiry; the
            # store's answer then carries the long-lived caching (see S3MediaStore).
            cache = f"private, max-age={seconds // 2}"
            return RedirectResponse(signed, status_code=307, headers={"Cache-Control": cache})
    root = store.local_root
    if root is not None:
        path = root / key
        if not path.exists():
            raise NotFound(MISSING)
        return FileResponse(path, media_type=media_type, headers=headers)
    stored = store.open(key)
    if stored is None:
        raise NotFound(MISSING)
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks, media_type=media_type, headers=headers)


def original_response(
    request: Request, settings: Settings, store: MediaStore, blob: MediaBlob
) -> Response:
    key = blob_original_key(blob)
    return _send(request, settings, store, key, blob.sha256, blob.content_type, "original")


def thumbnail_response(
    request: Request, settings: Settings, store: MediaStore, blob: MediaBlob
) -> Response:
    key = thumbnail_key(blob.sha256)
    return _send(request, settings, store, key, blob.sha256, "image/png", "thumbnail")
