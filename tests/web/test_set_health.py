"""The eyeball set's size advice and worn-out alarm, on the project page and dashboard;
the same figures for notebooks."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Run
from app.templating import path_for
from tests.conftest import sign_in
from tests.factories import (
    bearer,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.routes import url


def run_with_errors(
    session: Session, project: Project, name: str, errors: int, **fields: object
) -> Run:
    run = make_run(session, project, name=name, **fields)
    for _ in range(errors):
        make_prediction(session, run, make_sample(session, project, label="cat"), label="dog")
    session.flush()
    return run


def test_a_small_set_says_how_large_it_should_be(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead1")
    project = make_project(session, lead)
    run_with_errors(session, project, "v1", 12, evaluated=300)
    sign_in(client, "lead1")
    html = BeautifulSoup(
        client.get(path_for(app, "project", project_id=project.id)).text, "html.parser"
    )
    banner = html.select_one("#set-size.banner")
    assert banner is not None
    text = banner.get_text(" ", strip=True)
    assert "shows 12 errors" in text
    assert "very small" in text
    assert "2,500 samples" in text  # 100 / (12 / 300)
    assert html.select_one("#worn-out") is None


def test_the_dashboard_warns_when_the_eyeball_set_is_worn_out(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead1")
    project = make_project(session, lead)
    run_with_errors(session, project, "v1", 100, evaluated=1000, blackbox_error=0.12)
    run_with_errors(session, project, "v2", 60, evaluated=1000, blackbox_error=0.115)
    sign_in(client, "lead1")
    html = BeautifulSoup(
        client.get(path_for(app, "dashboard", project_id=project.id, run="v2")).text,
        "html.parser",
    )
    banner = html.select_one("#worn-out")
    assert banner is not None
    text = banner.get_text(" ", strip=True)
    assert "likely overfit" in text
    assert "10.0% to 6.0%" in text
    assert "12.0% to 11.5%" in text
    assert "z = 2.89" in text
    # 60 errors: a good idea of the causes, no size banner.
    size = html.select_one("#set-size")
    assert size is not None
    assert "banner" not in (size.get("class") or [])
    assert "a good idea" in size.get_text()


def test_the_health_of_a_run_for_notebooks(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    run_with_errors(session, project, "v1", 100, evaluated=1000, blackbox_error=0.12)
    run_with_errors(session, project, "v2", 80, evaluated=1000, blackbox_error=0.115)
    response = client.get(
        url(client, "api_health", project_id=project.id, run="latest"),
        headers=bearer(session, lead),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("run", "errors", "evaluated", "size_for_100", "reading")} == {
        "run": "v2",
        "errors": 80,
        "evaluated": 1000,
        "size_for_100": 1250,
        "reading": "a good idea",
    }
    assert body["error_rate"] == pytest.approx(0.08)
    worn = body["worn_out"]
    assert (worn["before"], worn["after"], worn["likely"]) == ("v1", "v2", False)
    assert worn["z"] == pytest.approx(1.1727, abs=1e-4)
    assert worn["eyeball_gain"] == pytest.approx(0.02)

    first = client.get(
        url(client, "api_health", project_id=project.id, run="v1"), headers=bearer(session, lead)
    ).json()
    assert first["worn_out"] is None
    missing = client.get(
        url(client, "api_health", project_id=project.id, run="v9"), headers=bearer(session, lead)
    )
    assert missing.status_code == 404


def test_the_dashboard_breaks_the_runs_error_into_bias_and_variance(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead1")
    project = make_project(session, lead)
    run_with_errors(
        session,
        project,
        "v1",
        3,
        evaluated=100,
        human_error=0.01,
        training_error=0.05,
        blackbox_error=0.08,
    )
    sign_in(client, "lead1")
    html = BeautifulSoup(
        client.get(path_for(app, "dashboard", project_id=project.id, run="v1")).text,
        "html.parser",
    )
    terms = {
        str(row["data-term"]): row.select("td")[0].get_text(strip=True)
        for row in html.select("#bias-terms tr[data-term]")
    }
    assert terms == {
        "avoidable_bias": "+4.00",
        "variance": "+3.00",
        "validation_overfit": "missing",
    }
    advice = html.select_one("#bias-advice")
    assert advice is not None
    assert "Largest: avoidable bias" in advice.get_text()
    assert "a bigger model" in advice.get_text()
    assert len(html.select("#bias-variance svg.stack rect")) == 3  # human, bias, variance

    response = client.get(
        url(client, "api_bias_variance", project_id=project.id, run="v1"),
        headers=bearer(session, lead),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["augmented"], body["largest"]) == (False, "avoidable_bias")
    assert [t["term"] for t in body["terms"]] == [
        "avoidable_bias",
        "variance",
        "validation_overfit",
    ]
    assert body["terms"][0]["value"] == pytest.approx(0.04)
    assert body["terms"][2] == {
        "term": "validation_overfit",
        "label": "Overfitting the validation sets",
        "value": None,
        "missing": ["test_error"],
    }
    assert body["next_steps"][0] == "a bigger model"
