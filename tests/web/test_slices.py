"""When the model beats people: error rate by metadata slice, beside the human level."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.analysis.slices import Versus, slice_table, versus
from app.domain.analysis.tally import wilson
from app.domain.projects.access import get_access
from app.models import Project, User
from app.templating import path_for
from tests.conftest import sign_in
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


def sliced_run(session: Session, *, correct_too: bool = True) -> tuple[Project, User]:
    """Night: 30 of 100 wrong; day: 2 of 100 wrong; people err 5 % of the time."""
    lead = make_user(session, "lead1")
    project = make_project(session, lead)
    run = make_run(session, project, name="v1", evaluated=200, human_error=0.05)
    for light, wrong in (("night", 30), ("day", 2)):
        for i in range(100):
            if i >= wrong and not correct_too:
                continue
            sample = make_sample(session, project, label="cat", meta={"light": light, "n": i})
            make_prediction(session, run, sample, label="dog" if i < wrong else "cat")
    session.flush()
    return project, lead


def test_a_slice_is_worse_than_people_only_when_its_whole_interval_is() -> None:
    assert versus(wilson(30, 100), 0.05) is Versus.WORSE  # 21.9 %-39.9 %
    assert versus(wilson(2, 100), 0.05) is Versus.UNCLEAR  # 0.6 %-7.0 %
    assert versus(wilson(0, 200), 0.05) is Versus.BETTER  # 0 %-1.9 %
    assert versus(wilson(30, 100), None) is Versus.UNKNOWN


def test_each_value_of_a_key_over_every_evaluated_sample(session: Session) -> None:
    project, lead = sliced_run(session)
    table = slice_table(session, get_access(session, lead, project.id), "v1", "light")
    assert table.keys == ("light", "n")
    assert table.complete
    assert [(s.value, s.rate.count, s.rate.total, s.versus) for s in table.rows] == [
        ("night", 30, 100, Versus.WORSE),
        ("day", 2, 100, Versus.UNCLEAR),
    ]


def test_a_run_of_errors_only_cannot_be_sliced(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    project, _ = sliced_run(session, correct_too=False)
    sign_in(client, "lead1")
    page = client.get(path_for(app, "slices", project_id=project.id, run="v1"))
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    assert html.select_one("#slices-incomplete") is not None
    assert html.select_one("#slice-table") is None


@pytest.mark.parametrize("key", ["light", "unknown-key"])
def test_the_page_marks_the_slices_worse_than_people(
    app: FastAPI, client: TestClient, session: Session, key: str
) -> None:
    project, _ = sliced_run(session)
    sign_in(client, "lead1")
    page = client.get(path_for(app, "slices", project_id=project.id, run="v1"), params={"key": key})
    html = BeautifulSoup(page.text, "html.parser")
    rows = html.select("#slice-table tbody tr")
    if key == "unknown-key":  # falls back to the first key the samples carry
        assert html.select_one("#f-key option[selected]").get_text() == "light"  # type: ignore[union-attr]
    assert [r.th.get_text() for r in rows] == ["night", "day"]  # type: ignore[union-attr]
    assert [("worse" in (r.get("class") or [])) for r in rows] == [True, False]
