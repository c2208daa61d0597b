"""The API keeps the contract it publishes at /openapi.json.

(a) Every /api/v1 operation has a summary, a description and an example, and names
the bearer scheme when it takes a caller.
(b) Schemathesis fuzzes every operation over a project with data, on SQLite and
PostgreSQL, three times: with a site admin's token, an annotator's of the project, and
the token of the lead of another project. Every time: no 5xx, no undocumented status
code, no body that breaks its own schema; and the other project's lead gets nothing of
this project (a 403 or a 404 whenever the path names it, never a 2xx).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from tests.api import API, published_openapi
from tests.factories import bearer, make_project, make_run, make_user
from tests.sheet_data import build

# Examples per operation: enough to reach every branch of the input checks, few enough
# that the whole API is fuzzed in about a minute per backend. Raise it to hunt locally.
MAX_EXAMPLES = int(os.environ.get("EYEBALL_FUZZ_EXAMPLES", "25"))
# The other roles mostly meet the same input checks (then a refusal): fewer examples
# each, so the three roles together stay within about twice the admin's time.
ROLE_EXAMPLES = int(os.environ.get("EYEBALL_FUZZ_ROLE_EXAMPLES", "12"))
MISSING_PROJECT = 10**6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# --- (a) documentation -------------------------------------------------------------


def _schema_has_example(schema: Any, components: dict[str, Any]) -> bool:
    """An example on the schema itself, its referenced model, or a list's items."""
    if not isinstance(schema, dict):
        return False
    if "example" in schema or "examples" in schema:
        return True
    if "$ref" in schema:
        return _schema_has_example(components.get(schema["$ref"].rsplit("/", 1)[-1]), components)
    alternatives = [*schema.get("anyOf", []), *schema.get("allOf", []), schema.get("items")]
    return any(_schema_has_example(s, components) for s in alternatives)


def _content_has_example(content: dict[str, Any] | None, components: dict[str, Any]) -> bool:
    return any(
        "example" in media
        or "examples" in media
        or _schema_has_example(media.get("schema"), components)
        for media in (content or {}).values()
    )


def _has_example(operation: dict[str, Any], components: dict[str, Any]) -> bool:
    """An example of a call (a parameter, the body) or of what it answers (a 2xx body).

    Examples of error bodies do not count: they do not show what the endpoint is for.
    """
    parameters = any(
        "example" in p or "examples" in p or _schema_has_example(p.get("schema"), components)
        for p in operation.get("parameters", [])
    )
    body = _content_has_example(operation.get("requestBody", {}).get("content"), components)
    answers = any(
        _content_has_example(response.get("content"), components)
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
    )
    return parameters or body or answers


def undocumented(openapi: dict[str, Any]) -> list[str]:
    components = openapi.get("components", {}).get("schemas", {})
    offenders = []
    for path, operations in openapi["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in operations.items():
            missing = [key for key in ("summary", "description") if not operation.get(key)]
            if not _has_example(operation, components):
                missing.append("example")
            if missing:
                offenders.append(f"{method.upper()} {path}: no {', no '.join(missing)}")
    return offenders


def test_every_api_operation_has_a_summary_a_description_and_an_example() -> None:
    offenders = undocumented(published_openapi())
    assert not offenders, "Operations to document:\n" + "\n".join(offenders)


def test_the_documentation_check_finds_what_is_missing() -> None:
    openapi = {
        "paths": {
            f"{API}/ok": {
                "get": {
                    "summary": "s",
                    "description": "d",
                    "parameters": [{"name": "run", "in": "path", "example": "latest"}],
                    "responses": {},
                }
            },
            f"{API}/bare": {
                "post": {
                    "summary": "s",
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"type": "object"}}}},
                        "404": {"content": {"application/json": {"example": {"detail": "x"}}}},
                    },
                }
            },
            "/healthz": {"get": {"responses": {}}},
        }
    }
    assert undocumented(openapi) == [f"POST {API}/bare: no description, no example"]


def test_the_bearer_token_is_a_declared_security_scheme() -> None:
    """/docs shows its "Authorize" button, and each operation that takes a caller says so."""
    openapi = published_openapi()
    schemes = openapi["components"]["securitySchemes"]
    assert schemes == {
        "APIToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "eyb_…",
            "description": schemes["APIToken"]["description"],
        }
    }
    assert "Authorization: Bearer" in schemes["APIToken"]["description"]
    public = {f"POST {API}/auth/token"}
    for path, operations in openapi["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            wanted: list[dict[str, list[str]]] = [] if name in public else [{"APIToken": []}]
            assert operation.get("security", []) == wanted, name


# --- (b) fuzzing ---------------------------------------------------------------------


class World:
    """What the fuzzer may name: a project with data, its runs, causes, people and errors;
    and who calls: a site admin, an annotator of the project (`ann`), or the lead of
    another project with data of its own (`outsider`)."""

    def __init__(self, session: Session, role: str) -> None:
        f = build(session)
        self.role = role
        self.project_id = f.project.id
        if role == "admin":
            caller = make_user(session, "root", admin=True)
        elif role == "annotator":
            caller = f.ann
        else:
            caller = make_user(session, "outsider")
            other = make_project(session, caller, name="Elsewhere")
            make_run(session, other, name="v1")
        self.headers = bearer(session, caller)
        self.known: dict[str, list[Any]] = {
            "project_id": [f.project.id],
            "run": ["v1", "latest"],
            "cause_id": [f.a.id, f.b.id, f.c.id],
            "username": ["ann", "bob", "lead"],
            "sample_id": list(f.errors),  # their samples' external ids: e1..e6
        }


@pytest.fixture
def fuzz_world(session: Session) -> World:
    return World(session, "admin")


@pytest.fixture(params=["annotator", "outsider"])
def role_world(request: pytest.FixtureRequest, session: Session) -> World:
    return World(session, request.param)


@pytest.fixture
def fuzzed_app(app: FastAPI) -> Iterator[FastAPI]:
    yield app
    # Schemathesis keeps an app's lifespan running until the process exits; this one's
    # ends with its test database (on PostgreSQL it holds a live-update listener).
    asgi.shutdown_lifespans()


# One test per operation. Deleting the project would only leave later examples a 404.
fuzz = (
    schemathesis.openapi.from_dict(published_openapi())
    .include(path_regex=f"^{API}/")
    .exclude(method="DELETE", path=f"{API}/projects/{{project_id}}")
)


def _fuzz(case: Any, world: World, app: FastAPI) -> None:
    # Path parameters are mostly ones that exist, so the fuzzer reaches past the 404s
    # into the bodies and filters; a third keep the generated value, for the 404s and
    # 422s. Chosen from the generated value, so a failing example replays the same.
    for name, value in (case.path_parameters or {}).items():
        known = world.known.get(name)
        pick = zlib.crc32(repr(value).encode())
        if known and pick % 3:
            case.path_parameters[name] = known[pick % len(known)]
    response = case.call_and_validate(app=app, headers=world.headers, checks=CHECKS)
    named = (case.path_parameters or {}).get("project_id")
    if world.role != "outsider" or named != world.project_id or response.status_code in (403, 404):
        return
    # Any other answer to another project's lead (a body that does not parse, a token the
    # fuzzer sent in its own way) must be the one a project that does not exist gets: it
    # says nothing of this one. Never a 2xx.
    said = f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    assert not 200 <= response.status_code < 300, f"another project's lead got in: {said}"
    case.path_parameters["project_id"] = MISSING_PROJECT
    elsewhere = case.call(app=app, headers=world.headers)
    assert elsewhere.status_code == response.status_code, (
        f"{said}, but {elsewhere.status_code} for a project that does not exist"
    )


@fuzz.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_published_contract(
    case: Any, fuzz_world: World, fuzzed_app: FastAPI
) -> None:
    _fuzz(case, fuzz_world, fuzzed_app)


@fuzz.parametrize()
@settings(
    max_examples=ROLE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_contract_holds_for_an_annotator_and_another_projects_lead(
    case: Any, role_world: World, fuzzed_app: FastAPI
) -> None:
    _fuzz(case, role_world, fuzzed_app)
