"""Hunting label errors: the labels the model finds least likely, first."""

from __future__ import annotations

from dataclasses import replace

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.label_suspects import label_suspects, suspicion_of
from app.domain.projects.access import get_access
from app.domain.projects.settings import ProjectFields, update_project
from app.domain.review import queue
from app.models import Prediction, Project, ReviewOrder, Run, Sample, User
from app.templating import path_for
from tests.conftest import sign_in
from tests.domain.test_queue import finish
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


def test_suspects_first_offers_the_lowest_probability_of_the_given_label_first(
    session: Session,
) -> None:
    """With the project's review order "suspects", the queue serves errors by the same
    ranking as the suspects list; errors without probabilities come last."""
    project, lead = scored_run(session)
    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    later = make_sample(session, project, external_id="h", label="cat")
    make_prediction(session, run, later, label="dog", review_order=-1)  # first at random
    access = get_access(session, lead, project.id)

    def served() -> list[str]:
        order = []
        while (offer := queue.next_error(session, access, run)) is not None:
            order.append(offer.sample.external_id)
            finish(session, access, offer.prediction)
        return order

    update_project(
        session, access, replace(ProjectFields.of(project), review_order=ReviewOrder.SUSPECTS)
    )
    assert served() == ["e", "a", "f", "h"]  # the errors of SAMPLES, then h


def test_a_random_order_is_the_default_and_ignores_probabilities(session: Session) -> None:
    project, lead = scored_run(session)
    assert project.review_order == ReviewOrder.RANDOM
    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    later = make_sample(session, project, external_id="h", label="cat")
    make_prediction(session, run, later, label="dog", review_order=-1)
    access = get_access(session, lead, project.id)
    offer = queue.next_error(session, access, run)
    assert offer is not None
    assert offer.sample.external_id == "h"


def test_each_errors_suspicion_is_its_place_in_the_suspects_list(session: Session) -> None:
    project, lead = scored_run(session)
    access = get_access(session, lead, project.id)
    listed = label_suspects(session, access, "v1", limit=100).suspects
    predictions = session.scalars(select(Prediction).where(Prediction.project_id == project.id))
    by_id = {
        session.get_one(Sample, p.sample_id).external_id: suspicion_of(session, p)
        for p in predictions
    }
    assert by_id["g"] is None  # no probabilities
    for suspect in listed:
        suspicion = by_id[suspect.external_id]
        assert suspicion is not None
        assert (suspicion.rank, suspicion.ranked) == (suspect.rank, 6)
        assert suspicion.p_label == suspect.p_label
    in_budget = [name for name, s in by_id.items() if s is not None and s.in_budget]
    assert in_budget == ["e"]


def test_the_review_screen_shows_the_probability_of_the_label_and_its_rank(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, _lead = scored_run(session)
    session.commit()
    sign_in(client, "lead1")
    page = client.get(
        url(client, "review_error", project_id=project.id, run_name="v1", external_id="a")
    )
    assert page.status_code == 200
    shown = BeautifulSoup(page.text, "html.parser").select_one("#suspicion")
    assert shown is not None
    assert " ".join(shown.get_text().split()) == "10.0% · suspect #2 of 6"
    link = shown.select_one("a")
    assert link is not None
    assert link["href"] == path_for(app, "label_suspects", project_id=project.id, run="v1")


def test_the_review_order_is_a_project_setting_in_the_form_and_the_api(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, lead = scored_run(session)
    session.commit()
    sign_in(client, "lead1")
    settings = client.get(url(client, "project_settings", project_id=project.id))
    form = BeautifulSoup(settings.text, "html.parser").select_one("select[name=review_order]")
    assert form is not None
    assert [o["value"] for o in form.select("option")] == ["random", "suspects"]

    headers = bearer(session, lead)
    session.commit()
    api = url(client, "api_project", project_id=project.id)
    changed = client.patch(api, json={"review_order": "suspects"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["review_order"] == "suspects"
    wrong = client.patch(api, json={"review_order": "alphabetical"}, headers=headers)
    assert wrong.status_code == 422
    assert client.get(api, headers=headers).json()["review_order"] == "suspects"


def test_the_sheet_warns_that_a_suspects_first_review_is_no_random_sample(
    client: TestClient, session: Session
) -> None:
    project, lead = scored_run(session)
    session.commit()
    sign_in(client, "lead1")
    sheet = url(client, "sheet", project_id=project.id, run="v1")

    def warned() -> bool:
        page = BeautifulSoup(client.get(sheet).text, "html.parser")
        return page.select_one("#order-warning") is not None

    assert not warned()  # random order: the examined errors are a random sample
    access = get_access(session, lead, project.id)
    update_project(
        session, access, replace(ProjectFields.of(project), review_order=ReviewOrder.SUSPECTS)
    )
    session.commit()
    assert warned()
