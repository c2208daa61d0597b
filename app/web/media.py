"""Images and thumbnails on the pages, for a signed-in browser (notebooks use /api/v1/media)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import CurrentUser, MediaStoreDep, SessionDep, SettingsDep
from app.domain.imports.media import blob_visible_to
from app.image_responses import original_response, thumbnail_response
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


@router.get("/media/{sha256}", name="media_original")
def original(
    sha256: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    blob = blob_visible_to(session, user, sha256)
    return original_response(request, settings, store, blob)


@router.get("/media/{sha256}/thumbnail", name="media_thumbnail")
def thumbnail(
    sha256: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    blob = blob_visible_to(session, user, sha256)
    return thumbnail_response(request, settings, store, blob)
