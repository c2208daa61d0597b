"""An archived project refuses every change in the same words, whoever asks and however."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.errors import PermissionDenied
from app.domain.imports.pipeline import ImportOptions, Upload, run_import
from app.domain.imports.store import media_store
from app.models import utcnow
from tests.conftest import sign_in
from tests.factories import bearer
from tests.importing import csv_bytes, database_of, image_rows, images_for, zip_bytes, zip_media
from tests.pages import attr, one, soup
from tests.routes import url
from tests.sheet_data import Fixture, build

MESSAGE = "The project is archived: it is read-only until a lead restores it."


@pytest.fixture
def archived(session: Session) -> Fixture:
    f = build(session)
    f.project.archived_at = utcnow()
    session.flush()
    return f


def page_post(
    client: TestClient, who: str, path: str, data: dict[str, Any], *, htmx: bool = False
) -> str:
    """A form post from a signed-in browser; the refusal's words as the page shows them."""
    sign_in(client, who)
    body = one(soup(client.get("/").text), "body")
    token = json.loads(attr(body, "hx-headers"))["x-csrftoken"]
    headers = {"x-csrftoken": token} | ({"HX-Request": "true"} if htmx else {})
    response = client.post(path, data=data, headers=headers)
    assert response.status_code == 403
    return one(soup(response.text), "#error p, #annotation-message").get_text()


def api_call(
    client: TestClient, session: Session, who: str, method: str, path: str, **kw: Any
) -> str:
    response = client.request(method, path, headers=bearer(session, who), **kw)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    detail: str = response.json()["detail"]
    return detail


def web_cause_create(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "cause_create", project_id=f.project.id)
    return page_post(client, "lead", path, {"name": "Foggy"})


def web_cause_edit(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "cause_save", project_id=f.project.id, cause_id=f.a.id)
    return page_post(client, "lead", path, {"name": "Blurred", "group_id": str(f.a.group_id)})


def web_project_edit(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "project_settings_save", project_id=f.project.id)
    return page_post(client, "lead", path, {"name": "Pets 2", "kind": "image", "overlap": "2"})


def web_annotation_save(
    client: TestClient, session: Session, f: Fixture, settings: Settings
) -> str:
    path = url(client, "review_save", project_id=f.project.id, run_name="v1", external_id="e6")
    # The review screen saves through htmx, and shows the refusal in its panel.
    return page_post(client, "ann", path, {"version": "0", "cause": [str(f.a.id)]}, htmx=True)


def web_import(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    sign_in(client, "lead")
    response = client.get(url(client, "import_page", project_id=f.project.id))
    assert response.status_code == 403
    return one(soup(response.text), "#error p").get_text()


def api_cause_create(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "api_create_cause", project_id=f.project.id)
    return api_call(client, session, "lead", "POST", path, json={"name": "Foggy"})


def api_cause_edit(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "api_update_cause", project_id=f.project.id, cause_id=f.a.id)
    return api_call(client, session, "lead", "PATCH", path, json={"name": "Blurred"})


def api_project_edit(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    path = url(client, "api_update_project", project_id=f.project.id)
    return api_call(client, session, "lead", "PATCH", path, json={"description": "new"})


def api_annotation_save(
    client: TestClient, session: Session, f: Fixture, settings: Settings
) -> str:
    path = url(client, "api_annotate_error", project_id=f.project.id, run="v1", sample_id="e6")
    return api_call(client, session, "ann", "PUT", path, json={"causes": ["blurry"], "version": 0})


def api_import(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    rows = image_rows(2, 1)
    path = url(client, "api_import", project_id=f.project.id)
    files = {
        "manifest": ("m.csv", csv_bytes(rows), "text/csv"),
        "images": ("i.zip", zip_bytes(images_for(rows)), "application/zip"),
    }
    return api_call(client, session, "lead", "POST", path, files=files)


def cli_import(client: TestClient, session: Session, f: Fixture, settings: Settings) -> str:
    """The import every other way in shares (the command line, a page's background job)."""
    rows = image_rows(2, 1)
    settings.ensure_dirs()
    with pytest.raises(PermissionDenied) as refused:
        run_import(
            database_of(session),
            f.project.id,
            Upload(io.BytesIO(csv_bytes(rows)), "m.csv", zip_media(images_for(rows))),
            ImportOptions(run="v2"),
            media_store(settings),
        )
    return refused.value.message


WAYS: list[Callable[[TestClient, Session, Fixture, Settings], str]] = [
    web_cause_create,
    web_cause_edit,
    web_project_edit,
    web_annotation_save,
    web_import,
    api_cause_create,
    api_cause_edit,
    api_project_edit,
    api_annotation_save,
    api_import,
    cli_import,
]


@pytest.mark.parametrize("way", WAYS, ids=[w.__name__ for w in WAYS])
def test_every_change_to_an_archived_project_is_refused_in_the_same_words(
    client: TestClient,
    session: Session,
    settings: Settings,
    archived: Fixture,
    way: Callable[[TestClient, Session, Fixture, Settings], str],
) -> None:
    assert way(client, session, archived, settings) == MESSAGE
