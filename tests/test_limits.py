"""Limits before work: bodies are counted against their route's class as they arrive, and
an upload is read only once its sender is known to be a lead of the project.

"Nothing was read" is seen directly: the test client hands the app the body on its first
`receive`, so a body generator that never ran was never read; "nothing was spooled" is
seen in the temporary folder, pointed at one of the test's own.
"""

from __future__ import annotations

import io
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.manifests import Limits, MediaRefused, ZipMedia, read_manifest
from app.models import SampleKind
from tests.conftest import csrf_token, sign_in, start_server
from tests.factories import bearer, make_project, make_user
from tests.importing import csv_bytes, image_rows, jsonl_bytes
from tests.routes import url

BODY_LIMIT = 64 * 1024
UPLOAD_LIMIT = 512 * 1024
BOUNDARY = "eyeballtestboundary"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 32,
        max_body_bytes=BODY_LIMIT,
        max_upload_bytes=UPLOAD_LIMIT,
    )


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder form parsers spool uploaded files to, empty to begin with."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


class Body:
    """A multipart body of `size` bytes of file, made only when someone reads it."""

    def __init__(self, size: int, *, token: str | None = None) -> None:
        self.size = size
        self.token = token
        self.was_read = False

    def __iter__(self) -> Iterator[bytes]:
        self.was_read = True
        if self.token is not None:
            yield (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n'
                f"{self.token}\r\n"
            ).encode()
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="manifest"; '
            'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        left = self.size
        while left > 0:
            chunk = min(left, 64 * 1024)
            yield b"x" * chunk
            left -= chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_an_anonymous_api_upload_is_refused_unread(
    client: TestClient, session: Session, spool: Path
) -> None:
    project = make_project(session, make_user(session))
    body = Body(10 * UPLOAD_LIMIT)
    path = url(client, "api_import", project_id=project.id)
    response = client.post(path, headers=MULTIPART, content=body)
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert not body.was_read
    assert list(spool.iterdir()) == []


def test_a_wrong_token_or_someone_elses_project_is_refused_before_the_upload_is_read(
    client: TestClient, session: Session, spool: Path
) -> None:
    lead, stranger = make_user(session), make_user(session)
    project = make_project(session, lead)
    path = url(client, "api_import", project_id=project.id)
    for headers, status in (
        ({"Authorization": "Bearer not-a-token"}, 401),
        (bearer(session, stranger), 404),
    ):
        body = Body(2 * 1024 * 1024)
        response = client.post(path, headers={**MULTIPART, **headers}, content=body)
        assert response.status_code == status
        assert not body.was_read
    assert list(spool.iterdir()) == []


def test_an_annotator_cannot_make_the_page_spool_an_upload(
    client: TestClient, session: Session, spool: Path
) -> None:
    lead, ann = make_user(session), make_user(session, "ann")
    project = make_project(session, lead, annotators=[ann])
    sign_in(client, "ann")
    body = Body(2 * 1024 * 1024, token=csrf_token(client))
    response = client.post(
        url(client, "import_upload", project_id=project.id), headers=MULTIPART, content=body
    )
    # 403 from the route; 413 when the CSRF check, before routing, is handed more than
    # the small limit at once (the test client hands over the whole body in one piece).
    assert response.status_code in {403, 413}
    assert list(spool.iterdir()) == []


def test_a_push_without_credentials_is_refused_unread(client: TestClient, session: Session) -> None:
    project = make_project(session, make_user(session))
    read = False

    def body() -> Iterator[bytes]:
        nonlocal read
        read = True
        yield b'{"samples": []}'

    path = url(client, "api_push_predictions", project_id=project.id, run="v1")
    response = client.post(path, headers={"Content-Type": "application/json"}, content=body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not read


def test_a_lead_upload_over_the_limit_gets_413(
    client: TestClient, session: Session, spool: Path
) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    headers = {**MULTIPART, **bearer(session, lead)}
    path = url(client, "api_import", project_id=project.id)
    # Declared: refused before a byte is read.
    body = Body(2 * UPLOAD_LIMIT)
    declared = client.post(path, headers={**headers, "Content-Length": str(3 * UPLOAD_LIMIT)})
    assert declared.status_code == 413
    assert "import the run in several parts" in declared.json()["detail"]
    # Streamed (chunked): refused once the count passes the limit.
    streamed = client.post(path, headers=headers, content=body)
    assert streamed.status_code == 413
    assert f"{UPLOAD_LIMIT:,} bytes" in streamed.json()["detail"]


def test_a_lead_upload_under_the_limit_imports(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, kind=SampleKind.TEXT)
    manifest = csv_bytes(
        [{"id": f"t{i}", "label": "a", "prediction": "b", "text": "hi"} for i in range(3)]
    )
    response = client.post(
        url(client, "api_import", project_id=project.id),
        headers=bearer(session, lead),
        files={"manifest": ("p.csv", manifest, "text/csv")},
        data={"run": "v1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 3


@pytest.mark.parametrize("field", ["evaluated", "sample_errors", "seed"])
@pytest.mark.parametrize("value", ["²", "1e3", "-1", "99999999999999999999", "١٢"])
def test_api_import_numbers_are_whole_ascii_and_bounded(
    client: TestClient, session: Session, field: str, value: str
) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    response = client.post(
        url(client, "api_import", project_id=project.id),
        headers=bearer(session, lead),
        files={"manifest": ("p.csv", csv_bytes(image_rows(1, 1)), "text/csv")},
        data={field: value},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: give a whole number")


def test_too_many_files_in_an_upload_is_a_clear_4xx(client: TestClient, session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    app_settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"max_zip_entries": 3}
    )
    files = [("folder", (f"{i}.png", b"x", "image/png")) for i in range(6)]
    response = client.post(
        url(client, "api_import", project_id=project.id),
        headers=bearer(session, lead),
        files=[("manifest", ("p.csv", b"id\n", "text/csv")), *files],
    )
    assert response.status_code == 422
    assert "Too many files" in response.json()["detail"]


@pytest.mark.parametrize("api", [True, False])
def test_any_other_body_over_the_small_limit_gets_413(
    client: TestClient, session: Session, api: bool
) -> None:
    make_user(session, "lead")
    big = b"x" * (BODY_LIMIT + 1)
    if api:
        path = url(client, "api_create_token")
        response = client.post(path, content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert f"{BODY_LIMIT:,} bytes" in response.json()["detail"]
    else:
        token = csrf_token(client)
        response = client.post(
            url(client, "sign_in_submit"),
            data={"username": "lead", "password": "x" * BODY_LIMIT, "csrftoken": token},
        )
        assert response.status_code == 413
        assert "text/html" in response.headers["content-type"]
        assert f"{BODY_LIMIT:,} bytes" in response.text


# --- a real server: the property as a client on the network sees it -----------------


def _answer_to(port: int, head: bytes, first_bytes: bytes) -> bytes:
    """Send a request's head and the start of its body, then read the status line: the
    server must answer without waiting for the rest of the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + first_bytes)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0]


def test_a_real_server_refuses_an_anonymous_gigabyte_at_once(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    server = start_server(tmp_path / "data", env={"TMPDIR": str(spool)})
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        gigabyte = 1024**3
        for path in ("/api/v1/projects/1/import", "/projects/1/import"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {gigabyte}\r\n\r\n"
            ).encode()
            status = _answer_to(port, head, next(iter(Body(1024))))
            # Refused before the body is read: for want of a sign-in, or on a page route by
            # the CSRF check, which may not read a body past the pre-routing limit.
            assert status.split(b" ")[1] in {b"401", b"403", b"303", b"413"}, status
        assert list(spool.iterdir()) == []
    finally:
        server.stop()


# --- an import's own limits: counted on what inflates and what is read ----------------


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_zip_entry_is_stopped_at_its_limit_while_it_inflates() -> None:
    limits = Limits(max_entry_bytes=1024**2, max_bytes=3 * 1024**2)
    media = ZipMedia(io.BytesIO(_zip({"zeros.png": bytes(2 * 1024**2)})), limits)
    with pytest.raises(MediaRefused, match="over the limit of 1,048,576 per file"):
        media.read("zeros.png")
    # The whole zip's limit is counted across entries too.
    several = {f"{i}.png": bytes(900 * 1024) for i in range(4)}
    media = ZipMedia(io.BytesIO(_zip(several)), Limits(max_bytes=4 * 1024**2))
    for name in list(several)[:3]:
        assert media.read(name) is not None
    media._limits = Limits(max_bytes=3 * 1024**2)  # as if the headers had lied
    with pytest.raises(MediaRefused):
        media.read("3.png")


def test_a_damaged_zip_entry_is_a_problem_not_a_crash() -> None:
    data = bytearray(_zip({"a.png": b"abc" * 10_000}))
    start = data.index(b"a.png") + len(b"a.png")  # the entry's deflated bytes follow
    data[start + 10 : start + 40] = b"\xff" * 30
    media = ZipMedia(io.BytesIO(bytes(data)), Limits())
    with pytest.raises(MediaRefused, match="damaged"):
        media.read("a.png")


def test_a_manifest_over_the_row_limit_stops_with_a_numbered_problem(tmp_path: Path) -> None:
    rows = [{"id": f"t{i}", "label": "a", "prediction": "b", "text": "x"} for i in range(6)]
    manifest = read_manifest(
        io.BytesIO(csv_bytes(rows)),
        "m.csv",
        kind=SampleKind.TEXT,
        labels=[],
        media=None,
        staging_dir=tmp_path,
        limits=Limits(max_rows=5),
    )
    assert len(manifest.rows) == 5
    assert [str(p) for p in manifest.problems] == [
        "line 7: the manifest has more than 5 rows; import it in several parts into the same run"
    ]


def _read(data: bytes, name: str, limits: Limits, tmp_path: Path) -> list[str]:
    manifest = read_manifest(
        io.BytesIO(data),
        name,
        kind=SampleKind.TEXT,
        labels=[],
        media=None,
        staging_dir=tmp_path,
        limits=limits,
    )
    return [str(p) for p in manifest.problems]


@pytest.mark.parametrize("name", ["m.csv", "m.jsonl"])
def test_a_line_over_the_limit_is_not_read_whole(tmp_path: Path, name: str) -> None:
    rows = [{"id": f"t{i}", "label": "a", "prediction": "b", "text": "x"} for i in range(3)]
    rows[1]["text"] = "y" * 5_000
    data = csv_bytes(rows) if name == "m.csv" else jsonl_bytes(rows)
    line = 3 if name == "m.csv" else 2
    assert _read(data, name, Limits(max_line_chars=1_000), tmp_path) == [
        f"line {line}: the line is longer than 1,000 characters; nothing after it was read"
    ]


@pytest.mark.parametrize("name", ["m.csv", "m.jsonl"])
def test_a_field_over_the_limit_is_a_problem_of_its_line_and_column(
    tmp_path: Path, name: str
) -> None:
    rows = [{"id": f"t{i}", "label": "a", "prediction": "b", "text": "x"} for i in range(3)]
    rows[2]["text"] = "z" * 600
    data = csv_bytes(rows) if name == "m.csv" else jsonl_bytes(rows)
    line = 4 if name == "m.csv" else 3
    assert _read(data, name, Limits(max_field_chars=500), tmp_path) == [
        f"line {line}, column 'text': longer than 500 characters"
    ]


def test_an_unterminated_csv_quote_is_a_problem_of_the_line_it_opens_on(tmp_path: Path) -> None:
    data = b'id,label,prediction,text\nt1,a,b,"fine, quoted"\nt2,a,b,"never closed\nt3,a,b,x\n'
    assert _read(data, "m.csv", Limits(), tmp_path) == [
        "line 3: a quote opened on line 3 is never closed (it would take in every line after it)"
    ]


def test_a_name_held_twice_in_a_zip_refuses_the_zip() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.png", b"first")
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("a.png", b"second")
    media = ZipMedia(io.BytesIO(out.getvalue()), Limits())
    assert [str(p) for p in media.problems()] == [
        "column 'images': the zip holds 'a.png' twice; give each file one name"
    ]
    assert media.read("a.png") is None
