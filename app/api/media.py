"""Images and thumbnails for notebooks, with a token, under the projects' access rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import FileResponse, Response

from app.api.deps import ApiUser
from app.api.responses import STORE_UNAVAILABLE, UNAUTHORIZED, problem
from app.dependencies import MediaStoreDep, SessionDep, SettingsDep
from app.domain.imports.media import blob_visible_to
from app.image_responses import original_response, thumbnail_response
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["media"])

Sha256 = Annotated[
    str,
    Path(
        description="The image's SHA-256 as Eyeball stores it (64 lowercase hex digits)",
        examples=["9b1d0a5c3f7e2b8a4d6c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"],
    ),
]

IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the copy named by `If-None-Match` is current"},
    401: UNAUTHORIZED,
    # Like a project, an image the caller may not see looks missing, so hashes do not leak.
    404: problem("No such image, or no project of the caller's shows it", "No such image."),
    503: STORE_UNAVAILABLE,
}
CACHING = (
    " The bytes under one hash never change: the answer may be cached for good, and "
    "`If-None-Match` with its `ETag` answers 304."
)


@router.get(
    "/media/{sha256}",
    name="api_media_original",
    response_class=FileResponse,
    summary="An image at full resolution",
    description="The image file as imported (PNG or JPEG), for anyone on the team of a "
    "project that shows it (admins: any image)." + CACHING,
    responses={
        200: {
            "description": "The image file",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **IMAGE_ERRORS,
    },
)
def original(
    sha256: Sha256,
    request: Request,
    user: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    blob = blob_visible_to(session, user, sha256)
    return original_response(request, settings, store, blob)


@router.get(
    "/media/{sha256}/thumbnail",
    name="api_media_thumbnail",
    response_class=FileResponse,
    summary="An image's thumbnail",
    description="A PNG at most 256 pixels on its long side, as the spreadsheet shows it; "
    "the same access as the full image." + CACHING,
    responses={
        200: {
            "description": "The thumbnail, a PNG",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **IMAGE_ERRORS,
    },
)
def thumbnail(
    sha256: Sha256,
    request: Request,
    user: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    blob = blob_visible_to(session, user, sha256)
    return thumbnail_response(request, settings, store, blob)
