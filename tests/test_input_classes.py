"""Every class of malformed input is a clear 4xx, never a 500, on both databases
(issue 16, item 9): one parametrised test per class, over the ways in that carry it.

The rule itself lives in `app/domain/inputs.py` (text and JSON) and
`app/domain/numbers.py` (whole numbers); every route meets it through its route
class (`app/routing.py`), which the last test holds every route to.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.analysis.annotation_export import json_chunks, jsonl_chunks
from app.models import Prediction, Project, Run, Sample, SampleKind
from app.routing import CheckedRoute
from tests.conftest import csrf_token, sign_in
from tests.factories import (
    PASSWORD,
    bearer,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.importing import jsonl_bytes, png
from tests.routes import url

NUL = "a\x00b"
SURROGATE = "a\ud800b"
BAD_TEXT = {"NUL": NUL, "lone surrogate": SURROGATE}


@dataclass
class World:
    project: Project
    run: Run
    sample: Sample
    lead: dict[str, str]  # bearer headers
    annotator: dict[str, str]
    lead_name: str
    annotator_name: str


@pytest.fixture
def world(session: Session) -> World:
    lead, annotator = make_user(session), make_user(session)
    project = make_project(
        session, lead, annotators=[annotator], kind=SampleKind.TEXT, labels=["cat", "dog"]
    )
    run = make_run(session, project, name="v1")
    sample = make_sample(session, project, external_id="s1", label="cat")
    make_prediction(session, run, sample, label="dog")
    return World(
        project,
        run,
        sample,
        bearer(session, lead),
        bearer(session, annotator),
        lead.username,
        annotator.username,
    )


def send_json(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> Any:
    # json.dumps escapes NUL and surrogates (\u0000, \ud800), as a notebook's JSON would.
    return client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


def count(session: Session, model: type[Any], project: Project) -> int:
    query = select(func.count()).select_from(model).where(model.project_id == project.id)
    return session.scalar(query) or 0


def text_sample(**overrides: Any) -> dict[str, Any]:
    return {"id": "n1", "label": "cat", "prediction": "dog", "text": "hello", **overrides}


def push(client: TestClient, world: World, samples: list[dict[str, Any]], **fields: Any) -> Any:
    path = url(client, "api_push_predictions", project_id=world.project.id, run="v2")
    return send_json(client, "POST", path, {"samples": samples, **fields}, world.lead)


def post_import(
    client: TestClient, world: World, manifest: bytes, name: str, images: bytes | None = None
) -> Any:
    files = {"manifest": (name, manifest, "text/plain")}
    if images is not None:
        files["images"] = ("images.zip", images, "application/zip")
    return client.post(
        url(client, "api_import", project_id=world.project.id),
        headers=world.lead,
        files=files,
        data={"run": "v2"},
    )


# --- 1. NUL and lone surrogates in a JSON body -----------------------------------------

JsonCase = Callable[[TestClient, World, str], Any]

JSON_TEXT: dict[str, JsonCase] = {
    "token username": lambda c, w, bad: send_json(
        c, "POST", url(c, "api_create_token"), {"username": bad, "password": "x", "name": "n"}, {}
    ),
    "token name": lambda c, w, bad: send_json(
        c,
        "POST",
        url(c, "api_create_token"),
        {"username": w.lead_name, "password": PASSWORD, "name": bad},
        {},
    ),
    "cause name": lambda c, w, bad: send_json(
        c, "POST", url(c, "api_create_cause", project_id=w.project.id), {"name": bad}, w.lead
    ),
    "note": lambda c, w, bad: send_json(
        c,
        "PUT",
        url(c, "api_annotate_error", project_id=w.project.id, run="v1", sample_id="s1"),
        {"note": bad, "version": 0},
        w.annotator,
    ),
    "pushed label": lambda c, w, bad: push(c, w, [text_sample(label=bad)]),
    "pushed metadata key": lambda c, w, bad: push(c, w, [text_sample(metadata={bad: 1})]),
}


@pytest.mark.parametrize("bad", list(BAD_TEXT.values()), ids=list(BAD_TEXT))
@pytest.mark.parametrize("case", list(JSON_TEXT))
def test_nul_and_lone_surrogates_in_json_bodies_are_422(
    client: TestClient, session: Session, world: World, case: str, bad: str
) -> None:
    response = JSON_TEXT[case](client, world, bad)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert ("NUL" if "\x00" in bad else "lone surrogate") in detail
    assert count(session, Prediction, world.project) == 1  # nothing was written


# --- 2. NUL in a form, a query parameter or a path segment ------------------------------


def _form(client: TestClient, name: str, data: dict[str, str], **params: Any) -> Any:
    return client.post(url(client, name, **params), data={**data, "csrftoken": csrf_token(client)})


PAGE_TEXT: dict[str, Callable[[TestClient, World], Any]] = {
    "sign-in username": lambda c, w: _form(
        c, "sign_in_submit", {"username": NUL, "password": "x", "next": "/"}
    ),
    "token name (page)": lambda c, w: _form(c, "token_create", {"token_name": NUL}),
    "cause name (page)": lambda c, w: _form(
        c, "cause_create", {"name": NUL}, project_id=w.project.id
    ),
    "query parameter (page)": lambda c, w: c.get(
        url(c, "sheet", project_id=w.project.id, run="v1"), params={"meta": NUL}
    ),
    "query parameter (API)": lambda c, w: c.get(
        url(c, "api_run_errors", project_id=w.project.id, run="v1"),
        params={"annotator": NUL},
        headers=w.lead,
    ),
    "path segment (API)": lambda c, w: c.get(
        url(c, "api_run_errors", project_id=w.project.id, run="v1").replace(
            "/runs/v1/", "/runs/v%00/"
        ),
        headers=w.lead,
    ),
}


@pytest.mark.parametrize("case", list(PAGE_TEXT))
def test_nul_in_forms_queries_and_paths_is_422(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    if case != "sign-in username":
        assert sign_in(client, world.lead_name).status_code == 303
    response = PAGE_TEXT[case](client, world)
    assert response.status_code == 422, response.text
    assert "NUL" in response.text


# --- 3. The same in a manifest's cells ---------------------------------------------------

MANIFESTS: dict[str, tuple[str, bytes, tuple[int, str | None]]] = {
    "NUL in a CSV label": (
        "m.csv",
        b"id,label,prediction,text\nn1,c\x00t,dog,hi\n",
        (2, "label"),
    ),
    "NUL in a CSV metadata cell": (
        "m.csv",
        b"id,label,prediction,text,where\nn1,cat,dog,hi,a\x00b\n",
        (2, "where"),
    ),
    "NUL in a JSONL text": (
        "m.jsonl",
        jsonl_bytes([text_sample(text=NUL)]),
        (1, "text"),
    ),
    "lone surrogate in a JSONL metadata value": (
        "m.jsonl",
        jsonl_bytes([text_sample(where=SURROGATE)]),
        (1, "where"),
    ),
    "lone surrogate in a JSONL column name": (
        "m.jsonl",
        jsonl_bytes([text_sample(**{SURROGATE: "x"})]),
        (1, None),
    ),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_nul_and_lone_surrogates_in_manifests_are_numbered_problems(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    name, manifest, where = MANIFESTS[case]
    response = post_import(client, world, manifest, name)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [where]
    assert count(session, Sample, world.project) == 1


# --- 4. Deeply nested JSON --------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


DEEP: dict[str, Callable[[TestClient, World], Any]] = {
    "manifest record, 40 deep": lambda c, w: post_import(
        c,
        w,
        b'{"id":"n1","label":"cat","prediction":"dog","text":"t","m":'
        + _nested(40).encode()
        + b"}\n",
        "m.jsonl",
    ),
    "manifest line, 100,000 deep": lambda c, w: post_import(
        c, w, _nested(100_000).encode() + b"\n", "m.jsonl"
    ),
    "pushed metadata, 40 deep": lambda c, w: push(
        c, w, [text_sample(metadata={"m": json.loads(_nested(40))})]
    ),
    "JSON body, 100,000 deep": lambda c, w: c.put(
        url(c, "api_annotate_error", project_id=w.project.id, run="v1", sample_id="s1"),
        content=b'{"note": ' + _nested(100_000).encode() + b"}",
        headers={**w.annotator, "Content-Type": "application/json"},
    ),
    "pagination cursor, 5,000 deep": lambda c, w: c.get(
        url(c, "api_run_errors", project_id=w.project.id, run="v1"),
        params={"cursor": _cursor(_nested(5_000))},
        headers=w.lead,
    ),
}


@pytest.mark.parametrize("case", list(DEEP))
def test_deeply_nested_json_is_a_4xx(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    response = DEEP[case](client, world)
    assert response.status_code == 422, response.text
    assert count(session, Sample, world.project) == 1


# --- 5. Huge integers -------------------------------------------------------------------

HUGE = 10**30

BIG: dict[str, Callable[[TestClient, World], Any]] = {
    "annotation version": lambda c, w: send_json(
        c,
        "PUT",
        url(c, "api_annotate_error", project_id=w.project.id, run="v1", sample_id="s1"),
        {"note": "x", "version": HUGE},
        w.annotator,
    ),
    "a 5,000-digit number in a body": lambda c, w: c.put(
        url(c, "api_annotate_error", project_id=w.project.id, run="v1", sample_id="s1"),
        content=b'{"note": "x", "version": ' + b"9" * 5000 + b"}",
        headers={**w.annotator, "Content-Type": "application/json"},
    ),
    "a run's evaluated count (API)": lambda c, w: send_json(
        c,
        "POST",
        url(c, "api_create_run", project_id=w.project.id),
        {"name": "big", "evaluated": 2**40},
        w.lead,
    ),
    "pushed metadata": lambda c, w: push(c, w, [text_sample(metadata={"n": HUGE})]),
    "manifest metadata": lambda c, w: post_import(
        c, w, jsonl_bytes([text_sample(n=HUGE)]), "m.jsonl"
    ),
    "page of the sheet": lambda c, w: c.get(
        url(c, "sheet", project_id=w.project.id, run="v1"), params={"page": str(HUGE)}
    ),
    "limit of the errors": lambda c, w: c.get(
        url(c, "api_run_errors", project_id=w.project.id, run="v1"),
        params={"limit": str(HUGE)},
        headers=w.lead,
    ),
    "project id in a path": lambda c, w: c.get(
        url(c, "api_project", project_id=1).replace("/1", f"/{HUGE}"), headers=w.lead
    ),
}


@pytest.mark.parametrize("case", list(BIG))
def test_huge_integers_are_422(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    assert sign_in(client, world.lead_name).status_code == 303
    response = BIG[case](client, world)
    assert response.status_code == 422, response.text


def test_a_long_run_of_digits_in_a_csv_cell_stays_text(
    client: TestClient, session: Session, world: World
) -> None:
    digits = "9" * 40
    manifest = f"id,label,prediction,text,serial\nn1,cat,dog,hi,{digits}\n".encode()
    response = post_import(client, world, manifest, "m.csv")
    assert response.status_code == 200, response.text
    stored = session.scalar(
        select(Sample.meta).where(Sample.project_id == world.project.id, Sample.external_id == "n1")
    )
    assert stored == {"serial": digits}


# --- 6. Digits that are not ASCII -------------------------------------------------------

DIGITS: dict[str, Callable[[TestClient, World], Any]] = {
    "project overlap (page)": lambda c, w: _form(
        c,
        "project_settings_save",
        {"name": "P", "kind": "text", "overlap": "²", "review_order": "random"},
        project_id=w.project.id,
    ),
    "run evaluated (page)": lambda c, w: _form(
        c, "run_save", {"name": "v1", "evaluated": "١٢"}, project_id=w.project.id, run_id=w.run.id
    ),
    "label audit size (page)": lambda c, w: _form(
        c, "label_audit_queue", {"size": "²"}, project_id=w.project.id, run="v1"
    ),
    "sheet page (query)": lambda c, w: c.get(
        url(c, "sheet", project_id=w.project.id, run="v1"), params={"page": "²"}
    ),
    "sheet annotator (query)": lambda c, w: c.get(
        url(c, "sheet", project_id=w.project.id, run="v1"), params={"annotator": "١٢"}
    ),
    "errors limit (API query)": lambda c, w: c.get(
        url(c, "api_run_errors", project_id=w.project.id, run="v1"),
        params={"limit": "²"},
        headers=w.lead,
    ),
    "run id (path)": lambda c, w: c.get(
        url(c, "run_edit", project_id=w.project.id, run_id=1).replace("/runs/1", "/runs/%C2%B2")
    ),
}


@pytest.mark.parametrize("case", list(DIGITS))
def test_unicode_digits_in_numeric_fields_are_422(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    assert sign_in(client, world.lead_name).status_code == 303
    response = DIGITS[case](client, world)
    assert response.status_code == 422, response.text


# --- 7. Zip entries that cannot be read -------------------------------------------------


def _zip(entries: list[tuple[str, bytes]]) -> bytearray:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return bytearray(out.getvalue())


def encrypted_zip() -> bytes:
    data = _zip([("a.png", png())])
    # The "encrypted" flag (bit 0) in the local header and the central directory.
    data[6] |= 1
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1
    return bytes(data)


def damaged_zip() -> bytes:
    data = _zip([("a.png", png() * 50)])
    start = data.index(b"a.png") + len(b"a.png")
    data[start + 10 : start + 40] = b"\xff" * 30
    return bytes(data)


def duplicate_zip() -> bytes:
    with pytest.warns(UserWarning, match="Duplicate name"):
        return bytes(_zip([("a.png", png(1)), ("a.png", png(200))]))


ZIPS: dict[str, tuple[Callable[[], bytes], str]] = {
    "encrypted entry": (encrypted_zip, "encrypted"),
    "damaged entry": (damaged_zip, "damaged"),
    "one name twice": (duplicate_zip, "twice"),
}


@pytest.mark.parametrize("case", list(ZIPS))
def test_unreadable_zip_entries_are_numbered_problems(
    client: TestClient, session: Session, case: str
) -> None:
    lead = make_user(session)
    project = make_project(session, lead, labels=["cat", "dog"])
    build, said = ZIPS[case]
    manifest = b"id,label,prediction,image\ni1,cat,dog,a.png\n"
    response = client.post(
        url(client, "api_import", project_id=project.id),
        headers=bearer(session, lead),
        files={
            "manifest": ("m.csv", manifest, "text/csv"),
            "images": ("images.zip", build(), "application/zip"),
        },
        data={"run": "v1"},
    )
    assert response.status_code == 422, response.text
    messages = [p["message"] for p in response.json()["problems"]]
    assert any(said in m for m in messages), messages
    assert count(session, Sample, project) == 0


# --- 8. NaN and Infinity ----------------------------------------------------------------

NOT_FINITE: dict[str, Callable[[TestClient, World], Any]] = {
    "NaN literal in a pushed confidence": lambda c, w: c.post(
        url(c, "api_push_predictions", project_id=w.project.id, run="v2"),
        content=b'{"samples": [{"id": "n1", "label": "cat", "prediction": "dog", '
        b'"text": "t", "confidence": NaN}]}',
        headers={**w.lead, "Content-Type": "application/json"},
    ),
    "Infinity literal in pushed metadata": lambda c, w: c.post(
        url(c, "api_push_predictions", project_id=w.project.id, run="v2"),
        content=b'{"samples": [{"id": "n1", "label": "cat", "prediction": "dog", '
        b'"text": "t", "metadata": {"x": -Infinity}}]}',
        headers={**w.lead, "Content-Type": "application/json"},
    ),
    "NaN string in a run's metric (API)": lambda c, w: send_json(
        c,
        "POST",
        url(c, "api_create_run", project_id=w.project.id),
        {"name": "nan", "metrics": {"training_error": "NaN"}},
        w.lead,
    ),
    "NaN in a manifest's metadata": lambda c, w: post_import(
        c, w, b'{"id":"n1","label":"cat","prediction":"dog","text":"t","x":NaN}\n', "m.jsonl"
    ),
    "nan in a run's metric (page)": lambda c, w: _form(
        c,
        "run_save",
        {"name": "v1", "training_error": "nan"},
        project_id=w.project.id,
        run_id=w.run.id,
    ),
    "inf in a CSV confidence": lambda c, w: post_import(
        c, w, b"id,label,prediction,text,confidence\nn1,cat,dog,t,inf\n", "m.csv"
    ),
}


@pytest.mark.parametrize("case", list(NOT_FINITE))
def test_nan_and_infinity_are_422(
    client: TestClient, session: Session, world: World, case: str
) -> None:
    assert sign_in(client, world.lead_name).status_code == 303
    response = NOT_FINITE[case](client, world)
    assert response.status_code == 422, response.text
    assert count(session, Sample, world.project) == 1


# --- 9. Exports stay valid whatever their text ------------------------------------------


@pytest.mark.parametrize("encoder", [jsonl_chunks, json_chunks], ids=["jsonl", "json"])
def test_a_lone_surrogate_kept_from_before_does_not_break_a_json_export(
    encoder: Callable[[list[str], Any], Any],
) -> None:
    rows = [{"sample_id": "s1", "metadata": {"note": SURROGATE}}]
    text = b"".join(encoder(["sample_id", "metadata"], iter([rows]))).decode("utf-8")
    if encoder is jsonl_chunks:
        (value,) = [json.loads(line) for line in text.splitlines()]
    else:
        (value,) = json.loads(text)
    assert value["metadata"]["note"] == SURROGATE  # the value as it was stored


# --- the rule reaches every route ---------------------------------------------------------


def test_every_route_checks_its_input_through_the_one_route_class(client: TestClient) -> None:
    app = client.app
    seen = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                seen.append(route)

    walk(app.routes)  # type: ignore[attr-defined]
    assert len(seen) > 100
    assert [r.path for r in seen if not isinstance(r, CheckedRoute)] == []
