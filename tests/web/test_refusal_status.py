"""A refusal answers with one status, whether an error page, a form shown again with the
reason, or the API gives it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from app.domain.imports.pipeline import ImportRefused
from app.domain.projects.access import LeadsOnly, ProjectArchived
from app.domain.projects.causes import SimilarCauseExists
from app.errors import status_of
from tests.conftest import csrf_token, sign_in
from tests.factories import bearer
from tests.pages import one, soup
from tests.routes import url
from tests.sheet_data import Fixture, build

GONE = 999_999  # an id no cause has


@pytest.fixture
def f(session: Session) -> Fixture:
    return build(session)


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (NotFound("No such cause in this project."), 404),
        (LeadsOnly(), 403),
        (ProjectArchived(), 403),
        (PermissionDenied("Only leads can adjudicate."), 403),
        (SimilarCauseExists([]), 409),
        (Conflict("A project named 'Pets' already exists."), 409),
        (InvalidInput({"name": "Give the cause a name."}), 422),
        (ImportRefused([]), 422),
        (Unavailable("The media store cannot be used.", reason="NoSuchBucket"), 503),
        (DomainError("Something else."), 400),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, DomainError) else str(value),
)
def test_every_refusal_has_one_status(refusal: DomainError, status: int) -> None:
    assert status_of(refusal) == status


def test_a_form_about_a_cause_gone_meanwhile_answers_404_like_the_api(
    client: TestClient, session: Session, f: Fixture
) -> None:
    sign_in(client, "lead")
    form = client.post(
        url(client, "cause_save", project_id=f.project.id, cause_id=GONE),
        data={"csrftoken": csrf_token(client), "name": "x", "group_id": str(f.a.group_id)},
    )
    assert form.status_code == 404
    assert "No such cause in this project." in one(soup(form.text), "#board").get_text()
    api = client.patch(
        url(client, "api_update_cause", project_id=f.project.id, cause_id=GONE),
        json={"name": "x"},
        headers=bearer(session, f.lead),
    )
    assert (api.status_code, api.json()) == (404, {"detail": "No such cause in this project."})


def test_a_merge_into_a_cause_that_is_not_there_answers_404_on_the_page_and_in_the_api(
    client: TestClient, session: Session, f: Fixture
) -> None:
    sign_in(client, "lead")
    page = client.get(
        url(client, "cause_merge_preview", project_id=f.project.id, cause_id=f.a.id),
        params={"target": GONE},
    )
    assert page.status_code == 404
    assert "No such cause in this project." in page.text
    api = client.post(
        url(client, "api_merge_cause", project_id=f.project.id, cause_id=f.a.id),
        json={"into": GONE},
        headers=bearer(session, f.lead),
    )
    assert api.status_code == 404
