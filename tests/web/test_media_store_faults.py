"""A media store that cannot be used (its bucket gone, its endpoint down) is a 503 that
says so, never a 500: /readyz reports it, an image asked for answers it, an import into
it ends with the reason in its job or its JSON. The bucket is a real one on moto's S3
server, removed under the app (tests/media_stores.py)."""

from __future__ import annotations

import logging
import shutil
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from bs4 import Tag
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.errors import Unavailable
from app.domain.imports.s3 import S3MediaStore, _missing
from app.domain.imports.store import thumbnail_key
from app.models import Sample
from tests.conftest import csrf_token, free_port, sign_in
from tests.factories import bearer, make_image, make_project, make_sample, make_user
from tests.importing import csv_bytes, image_rows, images_for, png, zip_bytes
from tests.media_stores import S3Server, media_settings, store_of
from tests.pages import attr, one, soup
from tests.routes import url


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Media in a bucket of their own; `unreachable` (indirect): at an endpoint where
    nothing listens."""
    if getattr(request, "param", None) == "unreachable":
        return media_settings(
            "s3", tmp_path / "data", request, s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
        )
    return media_settings("s3", tmp_path / "data", request)


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.state.run_in_background = lambda work: work()
    return app


def _samples(session: Session, project_id: int) -> int:
    count = select(func.count()).select_from(Sample).where(Sample.project_id == project_id)
    return session.scalar(count) or 0


@pytest.fixture
def image_sha(client: TestClient, session: Session, settings: Settings) -> str:
    """An image in the bucket, shown by a project of `member`, who is signed in."""
    blob = make_image(session, store_of(settings))
    member = make_user(session, "member")
    make_sample(session, make_project(session, annotators=[member]), image_sha256=blob.sha256)
    sign_in(client, "member")
    return blob.sha256


def remove_bucket(s3: S3Server, bucket: str) -> None:
    for key in s3.keys(bucket):
        s3.client.delete_object(Bucket=bucket, Key=key)
    s3.client.delete_bucket(Bucket=bucket)


def test_readyz_checks_the_bucket(
    client: TestClient, settings: Settings, s3_server: S3Server
) -> None:
    assert client.get(url(client, "readyz")).json() == {"status": "ready"}
    remove_bucket(s3_server, settings.s3_bucket)
    ready = client.get(url(client, "readyz"))
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "reason": "media store: NoSuchBucket"}


@pytest.mark.parametrize("settings", ["unreachable"], indirect=True)
def test_readyz_says_the_store_is_unreachable(client: TestClient) -> None:
    ready = client.get(url(client, "readyz"))
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "reason": "media store unreachable"}


def test_readyz_checks_the_local_folder(client: TestClient, tmp_path: Path) -> None:
    local = Settings(data_dir=tmp_path / "local", secret_key="test-secret-" + "x" * 32)
    local.ensure_dirs()
    assert isinstance(client.app, FastAPI)
    client.app.state.settings = local
    assert client.get(url(client, "readyz")).status_code == 200
    shutil.rmtree(local.media_path)
    ready = client.get(url(client, "readyz"))
    assert ready.status_code == 503
    assert ready.json()["reason"] == "media store: the folder is missing"


@pytest.mark.parametrize("name", ["media_original", "media_thumbnail"])
def test_an_image_from_a_missing_bucket_is_a_503_logged_in_one_line(
    client: TestClient,
    session: Session,
    settings: Settings,
    s3_server: S3Server,
    image_sha: str,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    path = url(client, name, sha256=image_sha)
    assert client.get(path).status_code == 200
    remove_bucket(s3_server, settings.s3_bucket)

    with caplog.at_level(logging.WARNING, logger="eyeball"):
        page = client.get(path)
    assert page.status_code == 503
    error = one(soup(page.text), "#error")
    assert "NoSuchBucket" in error.text
    assert "Traceback" not in page.text
    said = [r for r in caplog.records if r.name == "eyeball"]
    assert [r.getMessage() for r in said] == [f"unavailable on GET {path}: NoSuchBucket"]
    assert said[0].exc_info is None

    api = client.get(
        url(client, f"api_{name}", sha256=image_sha), headers=bearer(session, "member")
    )
    assert api.status_code == 503
    assert "NoSuchBucket" in api.json()["detail"]


def test_a_signed_url_without_credentials_to_sign_it_is_a_503(
    client: TestClient,
    settings: Settings,
    image_sha: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No keys set, and none for boto3 to find anywhere else on this machine.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    keyless = settings.model_copy(
        update={"media_signed_urls": True, "s3_access_key_id": "", "s3_secret_access_key": ""}
    )
    assert isinstance(client.app, FastAPI)
    client.app.state.settings = keyless
    answer = client.get(url(client, "media_original", sha256=image_sha))
    assert answer.status_code == 503
    assert "location" not in answer.headers
    assert "(no credentials)" in one(soup(answer.text), "#error").text


def test_no_such_bucket_is_not_a_missing_key(settings: Settings, s3_server: S3Server) -> None:
    store = store_of(settings)
    assert store.read("originals/00/none.png") is None  # a key not there: missing
    assert store.open("originals/00/none.png") is None
    blob_key = thumbnail_key("ab" * 32)
    store.write(blob_key, b"x")
    remove_bucket(s3_server, settings.s3_bucket)
    for look in (store.read, store.open):
        with pytest.raises(Unavailable) as refused:
            look(blob_key)
        assert refused.value.reason == "NoSuchBucket"
    with pytest.raises(Unavailable):
        store.write(blob_key, b"x", replace=True)
    no_bucket = ClientError(
        {"Error": {"Code": "NoSuchBucket"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
        "GetObject",
    )
    assert not _missing(no_bucket)
    no_key = ClientError(
        {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
        "GetObject",
    )
    assert _missing(no_key)


def test_an_endpoint_that_does_not_answer_is_given_up_in_seconds(settings: Settings) -> None:
    store = store_of(settings)
    assert isinstance(store, S3MediaStore)
    config = store._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}


def _upload(client: TestClient, project_id: int, rows: list[dict[str, Any]]) -> Tag:
    """Upload a manifest and its images; the job's section of the page it leads to."""
    files = [
        ("manifest", ("preds.csv", csv_bytes(rows), "text/csv")),
        ("images", ("images.zip", zip_bytes(images_for(rows)), "application/zip")),
    ]
    data = {"csrftoken": csrf_token(client), "run": "v1"}
    checked = client.post(
        url(client, "import_upload", project_id=project_id), data=data, files=files
    )
    assert checked.status_code == 303
    return one(soup(client.get(checked.headers["location"]).text), "#import-job")


def _says_the_store_failed(job: Tag) -> None:
    assert attr(job, "data-state") == "failed"
    message = one(job, "[role=alert]").text
    assert "media store cannot be used right now (NoSuchBucket)" in message
    assert "unexpectedly" not in message


def test_a_page_import_into_a_missing_bucket_ends_its_job_with_the_reason(
    client: TestClient, session: Session, settings: Settings, s3_server: S3Server
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    rows = image_rows(3, 2)
    sign_in(client, "lead")
    # The bucket goes between the preview and the confirmation: the import stops there.
    confirm = one(_upload(client, project.id, rows), "form.confirm-import")
    remove_bucket(s3_server, settings.s3_bucket)
    done = client.post(attr(confirm, "action"), data={"csrftoken": one(confirm, "input")["value"]})
    assert done.status_code == 303
    job = client.get(done.headers["location"])
    assert job.status_code == 200
    _says_the_store_failed(one(soup(job.text), "#import-job"))
    assert _samples(session, project.id) == 0
    # Gone before the upload: the check stops at the first look into the bucket.
    _says_the_store_failed(_upload(client, project.id, rows))


def test_an_api_import_into_a_missing_bucket_is_a_503(
    client: TestClient, session: Session, settings: Settings, s3_server: S3Server
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    rows = image_rows(3, 2)
    remove_bucket(s3_server, settings.s3_bucket)
    answer = client.post(
        url(client, "api_import", project_id=project.id),
        headers=bearer(session, lead),
        files={
            "manifest": ("preds.csv", csv_bytes(rows), "text/csv"),
            "images": ("images.zip", zip_bytes(images_for(rows)), "application/zip"),
        },
    )
    assert answer.status_code == 503
    assert "NoSuchBucket" in answer.json()["detail"]
    assert _samples(session, project.id) == 0


def test_a_push_of_images_into_a_missing_bucket_is_a_503(
    client: TestClient, session: Session, settings: Settings, s3_server: S3Server
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    samples = [
        {
            "id": f"s{i}",
            "label": "cat",
            "prediction": "dog",
            "image_base64": b64encode(png(i)).decode(),
        }
        for i in range(2)
    ]
    remove_bucket(s3_server, settings.s3_bucket)
    answer = client.post(
        url(client, "api_push_predictions", project_id=project.id, run="v1"),
        headers=bearer(session, lead),
        json={"samples": samples},
    )
    assert answer.status_code == 503
    assert "NoSuchBucket" in answer.json()["detail"]
    assert _samples(session, project.id) == 0
