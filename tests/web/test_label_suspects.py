"""Hunting label errors: the labels the model finds least likely, first."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.analysis.label_suspects import label_suspects
from app.domain.projects.access import get_access
from app.models import Project, User
from app.templating import path_for
from tests.conftest import sign_in
from tests.factories import bearer, make_prediction, make_project, make_run, make_sample, make_user
from tests.routes import url

# id: (label, predicted, p(cat), p(dog))
SAMPLES = {
    "a": ("cat", "dog", 0.10, 0.90),  # the model is sure it is a dog: suspicious
    "b": ("cat", "cat", 0.55, 0.45),  # right, but barely
    "c": ("dog", "dog", 0.20, 0.80),
    "d": ("cat", "cat", 0.95, 0.05),
    "e": ("dog", "cat", 0.97, 0.03),  # the most suspicious
    "f": ("cat", "dog", 0.10, 0.90),  # ties with a: by sample id
}


def scored_run(session: Session) -> tuple[Project, User]:
    lead = make_user(session, "lead1")
    project = make_project(session, lead, labels=["cat", "dog"])
    run = make_run(session, project, name="v1", evaluated=len(SAMPLES) + 1)
    for name, (label, predicted, cat, dog) in SAMPLES.items():
        sample = make_sample(session, project, external_id=name, label=label)
        make_prediction(session, run, sample, label=predicted, probs={"cat": cat, "dog": dog})
    make_prediction(session, run, make_sample(session, project, external_id="g"), label="cat")
    session.flush()
    return project, lead


def test_lowest_probability_of_the_given_label_first(session: Session) -> None:
    project, lead = scored_run(session)
    access = get_access(session, lead, project.id)
    result = label_suspects(session, access, "v1", limit=4)
    assert result.ranked == 6  # g has no probabilities
    assert [(s.rank, s.external_id, round(s.p_label, 2)) for s in result.suspects] == [
        (1, "e", 0.03),
        (2, "a", 0.10),
        (3, "f", 0.10),
        (4, "b", 0.55),  # right, but barely
    ]
    assert [s.is_error for s in result.suspects] == [True, True, True, False]
    # The default budget is 5 % of the ranked predictions, at least one.
    assert [s.external_id for s in label_suspects(session, access, "v1").suspects] == ["e"]


def test_the_page_the_csv_and_the_api_list_the_same_suspects(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, lead = scored_run(session)
    sign_in(client, "lead1")
    page = client.get(
        path_for(app, "label_suspects", project_id=project.id, run="v1"), params={"limit": 3}
    )
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    links = [a.get_text() for a in html.select("#suspects-table tbody a")]
    assert links == ["e", "a", "f"]
    csv = client.get(
        path_for(app, "label_suspects_csv", project_id=project.id, run="v1"), params={"limit": 3}
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "rank,sample_id,label,prediction,p_label,is_error"
    assert lines[1] == "1,e,dog,cat,0.0300,1"
    api = client.get(
        url(client, "api_label_suspects", project_id=project.id, run="v1"),
        params={"limit": 3},
        headers=bearer(session, lead),
    )
    assert [s["sample_id"] for s in api.json()] == ["e", "a", "f"]
    assert api.json()[0] == {
        "sample_id": "e",
        "label": "dog",
        "prediction": "cat",
        "p_label": 0.03,
        "rank": 1,
        "is_error": True,
    }
    bad = client.get(
        path_for(app, "label_suspects", project_id=project.id, run="v1"), params={"limit": 0}
    )
    assert bad.status_code == 422
