"""GET .../compare?runs=a,b: did our fix work, as JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token, revoke_token
from tests.conftest import sign_in
from tests.domain.test_compare import TwoRuns, two_runs
from tests.factories import bearer, make_project, make_user
from tests.routes import url


def compare_url(client: TestClient, runs: TwoRuns) -> str:
    return url(client, "api_compare", project_id=runs.project.id)


def test_each_cause_in_both_runs_and_the_change(client: TestClient, session: Session) -> None:
    runs = two_runs(session)
    response = client.get(
        compare_url(client, runs),
        params={"runs": "v1,latest"},
        headers=bearer(session, runs.annotator),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["a"] == {
        "run": "v1",
        "evaluated": 200,
        "errors": 40,
        "examined": 40,
        "error_rate": 0.2,
    }
    assert (body["b"]["run"], body["b"]["error_rate"], body["filtered"]) == ("v2", 0.1, False)
    causes = {c["cause"]: c for c in body["causes"]}
    assert list(causes) == ["blurry", "dark", "old"]

    blurry = causes["blurry"]
    assert (blurry["cause_id"], blurry["group"], blurry["archived"]) == (
        runs.blurry.id,
        "Causes",
        False,
    )
    assert (blurry["a"]["count"], blurry["a"]["examined"], blurry["a"]["share"]) == (20, 40, 0.5)
    assert blurry["a"]["share_low"] < 0.5 < blurry["a"]["share_high"]
    assert blurry["a"]["ceiling_points"] == pytest.approx(10.0)
    assert blurry["b"]["ceiling_points"] == pytest.approx(1.0)
    assert blurry["difference"] == pytest.approx(-0.4)
    assert blurry["difference_low"] < -0.4 < blurry["difference_high"] < 0
    assert blurry["points_difference"] == pytest.approx(-9.0)
    assert blurry["change"] == "fell"

    dark = causes["dark"]
    assert dark["difference"] == pytest.approx(0.2)
    assert dark["points_difference"] == pytest.approx(0.0)
    assert dark["change"] == "unclear"
    assert causes["old"]["archived"] is True
    assert (causes["old"]["b"]["count"], causes["old"]["b"]["examined"]) == (0, 20)

    label_errors = body["label_errors"]
    assert (label_errors["a"]["count"], label_errors["b"]["count"]) == (0, 0)
    assert label_errors["change"] == "unclear"


def test_the_sheets_filters_apply_to_both_runs(client: TestClient, session: Session) -> None:
    runs = two_runs(session)
    body = client.get(
        compare_url(client, runs),
        params=[("runs", "v1,v2"), ("cause", str(runs.dark.id))],
        headers=bearer(session, runs.lead),
    ).json()
    assert body["filtered"] is True
    assert (body["a"]["examined"], body["b"]["examined"]) == (8, 8)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 422, "runs: Field required"),
        ({"runs": "v1"}, 422, "exactly two runs"),
        ({"runs": "v1,v2,latest"}, 422, "exactly two runs"),
        ({"runs": "v1,"}, 422, "exactly two runs"),
        ({"runs": "v1,v9"}, 404, "The project has no run named 'v9'."),
        ({"runs": "v1,v\x002"}, 422, "runs"),
        ({"runs": "v1,v2", "status": "finished"}, 422, "Status must be one of"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    client: TestClient, session: Session, params: dict[str, str], status: int, message: str
) -> None:
    runs = two_runs(session)
    response = client.get(
        compare_url(client, runs), params=params, headers=bearer(session, runs.annotator)
    )
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_who_may_compare(client: TestClient, session: Session) -> None:
    runs = two_runs(session)
    path, params = compare_url(client, runs), {"runs": "v1,v2"}
    assert client.get(path, params=params).status_code == 401
    issued = create_token(session, runs.lead, "old notebook")
    revoke_token(session, runs.lead, issued.token.id)
    revoked = client.get(path, params=params, headers={"Authorization": f"Bearer {issued.secret}"})
    assert revoked.status_code == 401
    other_lead = make_user(session, "olga")
    make_project(session, other_lead, name="Other")
    stranger = client.get(path, params=params, headers=bearer(session, other_lead))
    assert (stranger.status_code, stranger.json()) == (404, {"detail": "No such project."})
    admin = make_user(session, "root", admin=True)
    assert client.get(path, params=params, headers=bearer(session, admin)).status_code == 200
    assert (
        client.get(path, params=params, headers=bearer(session, runs.annotator)).status_code == 200
    )
    sign_in(client, runs.annotator.username)
    assert client.get(path, params=params).status_code == 200
