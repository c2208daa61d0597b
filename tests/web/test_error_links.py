"""Sample ids come from people's manifests: links to them must survive any character."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.templating import path_for
from tests.conftest import sign_in
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


def test_an_error_with_odd_characters_in_its_id_opens_from_its_link(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    annotator = make_user(session, "ann")
    project = make_project(session, annotators=[annotator])
    run = make_run(session, project, name="run 1")
    make_prediction(
        session, run, make_sample(session, project, external_id="img?1#a b/c"), label="dog"
    )
    sign_in(client, "ann")
    url = path_for(
        app,
        "review_error",
        project_id=project.id,
        run_name=run.name,
        external_id="img?1#a b/c",
    )
    response = client.get(url)
    assert response.status_code == 200
    text = BeautifulSoup(response.text, "html.parser").get_text(" ")
    assert "img?1#a b/c" in text
