"""GET .../compare?runs=a,b: did our fix work, as JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from sqlalchemy.orm import Session

from app.api.compare import change_fields
from app.domain.accounts.users import create_token, revoke_token
from app.domain.analysis.compare import ShareChange
from app.schemas.compare import ShareChangeOut
from tests.conftest import sign_in
from tests.domain.test_compare import TwoRuns, share_changes, two_runs
from tests.factories import (
    bearer,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
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
        "hidden": None,  # the annotator reviewed every error of it: nothing held back
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
    # The verdict beside the difference it was judged on: points, both rates known.
    assert (blurry["trend"], blurry["trend_unit"]) == ("fell", "points")
    assert [blurry[f"trend_difference{end}"] for end in ("", "_low", "_high")] == [
        blurry[f"points_difference{end}"] for end in ("", "_low", "_high")
    ]
    assert blurry["trend_difference_high"] < 0

    # Dark's share rose by 0.2, but the verdict is on its points, which did not move.
    dark = causes["dark"]
    assert dark["difference"] == pytest.approx(0.2)
    assert dark["points_difference"] == pytest.approx(0.0)
    assert dark["change"] == "unclear"
    assert (dark["trend"], dark["trend_unit"]) == ("unclear", "points")
    assert dark["trend_difference_low"] <= 0 <= dark["trend_difference_high"]
    assert causes["old"]["archived"] is True
    assert (causes["old"]["b"]["count"], causes["old"]["b"]["examined"]) == (0, 20)

    label_errors = body["label_errors"]
    assert (label_errors["a"]["count"], label_errors["b"]["count"]) == (0, 0)
    assert label_errors["change"] == "unclear"

    # On top: the error rate's change (20 % to 10 % of 200), and what became of the
    # errors (none shared: each run's errors are samples of their own here).
    assert body["error_rate_change"] == pytest.approx(-0.1)
    assert body["error_rate_change_low"] < -0.1 < body["error_rate_change_high"] < 0
    assert body["error_rate_trend"] == "fell"
    assert (body["fixed"], body["new"], body["stayed"]) == ([], [], [])


def test_without_error_rates_the_trend_is_in_share(client: TestClient, session: Session) -> None:
    runs = two_runs(session, evaluated=None)
    body = client.get(
        compare_url(client, runs), params={"runs": "v1,v2"}, headers=bearer(session, runs.lead)
    ).json()
    blurry = next(c for c in body["causes"] if c["cause"] == "blurry")
    assert blurry["points_difference"] is None
    assert (blurry["trend"], blurry["change"], blurry["trend_unit"]) == ("fell", "fell", "share")
    assert [blurry[f"trend_difference{end}"] for end in ("", "_low", "_high")] == [
        blurry[f"difference{end}"] for end in ("", "_low", "_high")
    ]


@given(share_changes)
def test_the_answer_shows_the_trend_beside_the_interval_it_was_judged_on(
    change: ShareChange,
) -> None:
    out = ShareChangeOut.model_validate(change_fields(change))
    both_rates = change.a.ceiling is not None and change.b.ceiling is not None
    assert out.trend_unit == ("points" if both_rates else "share")
    judged = (out.trend_difference, out.trend_difference_low, out.trend_difference_high)
    if out.trend_unit == "points":
        points = (out.points_difference, out.points_difference_low, out.points_difference_high)
        assert judged == points
    else:
        assert judged == (out.difference, out.difference_low, out.difference_high)
    assert out.change == out.trend
    low, high = out.trend_difference_low, out.trend_difference_high
    if out.trend == "fell":
        assert high is not None
        assert high < 0
    elif out.trend == "rose":
        assert low is not None
        assert low > 0
    elif low is None or high is None:
        assert (low, high, out.trend_difference) == (None, None, None)
    else:
        assert low <= 0 <= high


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


def test_fixed_new_and_stayed_errors_are_listed_by_sample_id(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    before = make_run(session, project, name="v1", evaluated=10)
    after = make_run(session, project, name="v2", evaluated=10)
    for name, (was, now) in {"a": (True, False), "b": (False, True), "c": (True, True)}.items():
        sample = make_sample(session, project, external_id=name, label="cat")
        make_prediction(session, before, sample, label="dog" if was else "cat")
        make_prediction(session, after, sample, label="dog" if now else "cat")
    session.flush()
    response = client.get(
        url(client, "api_compare", project_id=project.id),
        params={"runs": "v1,v2"},
        headers=bearer(session, lead),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["fixed"], body["new"], body["stayed"]) == (["a"], ["b"], ["c"])
    assert body["error_rate_change"] == pytest.approx(0.0)
    assert body["error_rate_trend"] == "unclear"
