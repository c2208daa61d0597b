"""The access rules every /api/v1 endpoint shares, checked on every route the app has.

Enumerating the routes means an endpoint added later is held to the same rules
without anyone remembering to write its test.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts.users import create_token, revoke_token
from tests.api import API, published_openapi
from tests.factories import bearer, make_project, make_user
from tests.sheet_data import Fixture, build

# Open without a token: that is how a token is obtained.
PUBLIC = {f"{API}/auth/token"}


def api_routes() -> list[tuple[str, str]]:
    """Every operation the app publishes under /api/v1 (the contract, by definition)."""
    return sorted(
        (method.upper(), path)
        for path, operations in published_openapi()["paths"].items()
        if path.startswith(API) and path not in PUBLIC
        for method in operations
    )


ROUTES = api_routes()
PROJECT_ROUTES = [(m, p) for m, p in ROUTES if p.startswith("/api/v1/projects/{project_id}")]


def concrete(path: str, f: Fixture) -> str:
    return path.format(
        project_id=f.project.id,
        run="latest",
        cause_id=f.a.id,
        username="ann",
        sample_id="e1",
        sha256="0" * 64,
    )


def test_the_route_list_is_the_api() -> None:
    paths = {p for _, p in ROUTES}
    assert "/api/v1/projects/{project_id}/runs/{run}/annotations.csv" in paths
    assert ("DELETE", "/api/v1/projects/{project_id}/members/{username}") in ROUTES
    assert len(PROJECT_ROUTES) > 15


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_endpoint_refuses_a_missing_or_revoked_token_with_401_json(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    f = build(session)
    issued = create_token(session, f.lead, "old")
    revoke_token(session, f.lead, issued.token.id)
    for headers in ({}, {"Authorization": f"Bearer {issued.secret}"}):
        response = client.request(
            method, concrete(path, f), headers=headers, json={}, follow_redirects=False
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"), PROJECT_ROUTES, ids=[f"{m} {p}" for m, p in PROJECT_ROUTES]
)
def test_a_lead_of_another_project_finds_nothing_there(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    f = build(session)
    olga = make_user(session, "olga")
    make_project(session, olga, name="Cars")
    response = client.request(method, concrete(path, f), headers=bearer(session, olga), json={})
    assert response.status_code == 404
    assert response.json() == {"detail": "No such project."}
