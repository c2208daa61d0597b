"""A lead imports through the page: upload, preview, confirm, and the project shows the errors.

The background work runs inline here (app.state.run_in_background); the browser
test runs it in the server's real thread.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.imports.jobs import ImportJob, JobState, create_job, load_job, save_job
from app.domain.imports.pipeline import ImportOptions
from app.domain.imports.progress import Phase
from app.models import Prediction, Project, Sample, User
from tests.conftest import csrf_token, sign_in
from tests.factories import make_project, make_user
from tests.importing import csv_bytes, image_rows, images_for, zip_bytes
from tests.pages import attr, one, soup
from tests.routes import url

HX = {"HX-Request": "true"}


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.state.run_in_background = lambda work: work()
    return app


def upload(
    client: TestClient,
    project: Project,
    manifest: bytes,
    *,
    images: bytes | None = None,
    folder: dict[str, bytes] | None = None,
    **fields: str,
) -> Any:
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("manifest", ("preds.csv", manifest, "text/csv"))
    ]
    if images is not None:
        files.append(("images", ("images.zip", images, "application/zip")))
    for name, content in (folder or {}).items():
        files.append(("folder", (name, content, "image/png")))
    data = {"csrftoken": csrf_token(client), **fields}
    return client.post(url(client, "import_upload", project_id=project.id), data=data, files=files)


def counts(session: Session, project: Project) -> tuple[int, int]:
    samples = session.scalar(
        select(func.count()).select_from(Sample).where(Sample.project_id == project.id)
    )
    predictions = session.scalar(
        select(func.count()).select_from(Prediction).where(Prediction.project_id == project.id)
    )
    return samples or 0, predictions or 0


def test_the_import_form_is_for_leads_and_sends_its_token_first(
    client: TestClient, session: Session
) -> None:
    lead, ann = make_user(session, "lead"), make_user(session, "ann")
    make_user(session, "stranger")
    project = make_project(session, lead, annotators=[ann])
    page = url(client, "import_page", project_id=project.id)

    sign_in(client, "lead")
    form = one(soup(client.get(page).text), "form#import-form")
    assert form["enctype"] == "multipart/form-data"
    assert form.select("input")[0]["name"] == "csrftoken"
    assert {i["name"] for i in form.select("input[type=file]")} == {"manifest", "images", "folder"}
    assert one(form, "input[name=folder]").has_attr("webkitdirectory")
    home = soup(client.get(url(client, "project", project_id=project.id)).text)
    assert one(home, "#import-first-run")["href"] == page
    assert one(home, "#import-run")["href"] == page

    client.cookies.clear()
    sign_in(client, "ann")
    assert client.get(page).status_code == 403
    assert (
        soup(client.get(url(client, "project", project_id=project.id)).text).select("#import-run")
        == []
    )
    client.cookies.clear()
    sign_in(client, "stranger")
    assert client.get(page).status_code == 404


def test_a_lead_previews_confirms_and_lands_on_the_project(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead, labels=["cat", "dog"])
    rows = image_rows(12, 5)
    sign_in(client, "lead")

    response = upload(
        client, project, csv_bytes(rows), images=zip_bytes(images_for(rows)), run="resnet-v1"
    )
    assert response.status_code == 303
    assert counts(session, project) == (0, 0), "nothing is written before the confirmation"

    preview = soup(client.get(response.headers["location"]).text)
    assert one(preview, "#import-job")["data-state"] == "checked"
    assert one(preview, "#count-rows").get_text(strip=True) == "12"
    assert one(preview, "#count-errors").get_text(strip=True) == "5"
    assert one(preview, "#error-rate").get_text(" ", strip=True) == "41.7% of 12 evaluated"
    assert one(preview, "#for-review").get_text(strip=True) == "all 5 errors"
    columns = [li.get_text(" ", strip=True) for li in preview.select("#columns li")]
    assert columns[:6] == ["id", "label", "prediction", "confidence", "image", "camera metadata"]
    shown = preview.select("#preview-rows tbody tr")
    assert len(shown) == 10
    assert [one(tr, "td.line").get_text(strip=True) for tr in shown[:2]] == ["2", "3"]
    # Each image as Eyeball read it: its thumbnail beside its path.
    thumbnails = preview.select("#preview-rows img.preview-thumb")
    assert len(thumbnails) == 10
    assert all(attr(img, "src").startswith("data:image/png;base64,") for img in thumbnails)
    assert preview.select("#preview-rows tr.bad-row") == []
    assert preview.select("#problems") == []

    confirm = one(preview, "form.confirm-import")
    assert confirm.select("input")[0]["name"] == "csrftoken"
    done = client.post(attr(confirm, "action"), data={"csrftoken": one(confirm, "input")["value"]})
    assert done.status_code == 303
    assert counts(session, project) == (12, 12)

    poll = client.get(done.headers["location"], headers=HX)
    assert poll.status_code == 204
    landing = poll.headers["HX-Redirect"]
    assert landing.startswith(url(client, "project", project_id=project.id) + "?imported=")
    # A small import can be over before the browser asks for its page: it lands too.
    opened = client.get(done.headers["location"], follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, landing)
    home = soup(client.get(landing).text)
    notice = " ".join(one(home, "#imported").get_text(" ", strip=True).split())
    assert notice.startswith("Imported run resnet-v1 : 12 rows, 5 errors (error rate 41.7%)")
    # With the summary, what the imported run says of the eyeball set's size.
    advice = " ".join(one(home, "#set-size").get_text(" ", strip=True).split())
    assert "The eyeball set shows 5 errors at run resnet-v1: very small" in advice
    assert "an eyeball set of 240 samples would show about 100" in advice
    progress = " ".join(one(home, "#progress").get_text(" ", strip=True).split())
    assert "5 errors in 12 evaluated samples" in progress
    assert "0 of 5 errors under review are done" in progress

    again = client.post(attr(confirm, "action"), data={"csrftoken": one(confirm, "input")["value"]})
    assert again.status_code == 409
    assert counts(session, project) == (12, 12)


def test_problems_are_listed_and_nothing_can_be_confirmed(
    client: TestClient, session: Session
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    rows = image_rows(4, 2)
    rows[1]["confidence"] = 7
    rows[3]["image"] = "images/missing.png"
    sign_in(client, "lead")
    response = upload(client, project, csv_bytes(rows), images=zip_bytes(images_for(rows[:3])))
    page = soup(client.get(response.headers["location"]).text)
    problems = [li.get_text(" ", strip=True) for li in page.select("#problems li")]
    assert problems == [
        "line 3, confidence 7 is outside 0..1",
        "line 5, image no file 'images/missing.png' in the images",
    ]
    assert page.select("form.confirm-import") == []
    assert "2 problems: nothing will be imported" in one(page, "h3.bad").get_text()
    # Nothing is promised for review, and the bad rows are marked where they are shown.
    assert one(page, "#for-review").get_text(strip=True) == (
        "nothing until the problems below are fixed"
    )
    bad = page.select("#preview-rows tr.bad-row")
    assert [one(tr, "td.line").get_text(strip=True) for tr in bad] == ["3✗", "5✗"]
    assert attr(bad[0], "title") == "confidence: 7 is outside 0..1"
    job_id = response.headers["location"].rsplit("/", 1)[1]
    refused = client.post(
        url(client, "import_confirm", project_id=project.id, job_id=job_id),
        data={"csrftoken": csrf_token(client)},
    )
    assert refused.status_code == 409
    assert counts(session, project) == (0, 0)


def test_a_folder_of_images_can_be_uploaded(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    rows = image_rows(3, 1)
    folder = {f"my-export/{name}": data for name, data in images_for(rows).items()}
    sign_in(client, "lead")
    response = upload(client, project, csv_bytes(rows), folder=folder)
    page = soup(client.get(response.headers["location"]).text)
    assert one(page, "#count-rows").get_text(strip=True) == "3"
    assert page.select("#problems") == []


def test_form_mistakes_are_shown_on_the_form(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    sign_in(client, "lead")
    response = upload(client, project, b"id,label\n", sample_errors="ten")
    assert response.status_code == 422
    page = soup(response.text)
    assert one(page, "#sample_errors-problem").get_text() == (
        "Give a whole number, or leave it empty."
    )
    assert one(page, "input[name=sample_errors]")["value"] == "ten"


def saved_job(
    settings: Settings,
    project: Project,
    lead: User,
    *,
    images: str | None = "zip",
    **fields: Any,
) -> ImportJob:
    """A job of the import page as its status file says, with `fields` (its state, phase,
    counts...) set as the import would have written them."""
    job, _folder = create_job(
        settings.media_path,
        project,
        lead.id,
        manifest_name="big.csv",
        images=images,
        options=ImportOptions(run="v1"),
    )
    for name, value in fields.items():
        setattr(job, name, value)
    save_job(settings.media_path, job)
    return job


def test_the_progress_fragment_polls_until_the_end(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    job = saved_job(
        settings,
        project,
        lead,
        state=JobState.IMPORTING,
        phase=Phase.CHECKING_IMAGES.value,
        done=250,
        total=1000,
    )
    sign_in(client, "lead")
    fragment = client.get(
        url(client, "import_job", project_id=project.id, job_id=job.id), headers=HX
    )
    doc = soup(fragment.text)
    assert doc.select("header") == [], "a fragment, not the whole page"
    section = one(doc, "#import-job")
    assert section["hx-trigger"] == "every 500ms"
    assert section["hx-swap"] == "outerHTML"
    bar = one(section, "progress#import-progress")
    assert (bar["value"], bar["max"]) == ("250", "1000")
    assert one(section, "#import-phase").get_text() == "Checking images"


def test_while_the_manifest_is_read_the_page_counts_its_rows_without_a_total(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    job = saved_job(
        settings, project, lead, images=None, phase=Phase.READING.value, done=3_000, total=0
    )
    sign_in(client, "lead")
    fragment = soup(
        client.get(url(client, "import_job", project_id=project.id, job_id=job.id), headers=HX).text
    )
    section = one(fragment, "#import-job")
    assert one(section, "p").get_text() == "Reading the manifest: 3,000 rows so far"
    bar = one(section, "progress#import-progress")
    assert not bar.has_attr("value"), "a bar of unknown length, not one stuck at 0"


def test_the_page_lists_the_phases_already_done_with_their_times(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    job = saved_job(
        settings,
        project,
        lead,
        state=JobState.IMPORTING,
        phase=Phase.SAVING.value,
        done=0,
        total=10_000,
        phases=[
            {"phase": "reading", "items": 10_000, "seconds": 0.71},
            {"phase": "checking_images", "items": 10_000, "seconds": 4.2},
        ],
    )
    sign_in(client, "lead")
    fragment = soup(
        client.get(url(client, "import_job", project_id=project.id, job_id=job.id), headers=HX).text
    )
    assert [li.get_text() for li in fragment.select("#import-phases li")] == [
        "✓ Reading the manifest: 10,000 in 0.71 s",
        "✓ Checking images: 10,000 in 4.20 s",
    ]
    assert one(fragment, "#import-phase").get_text() == "Saving"


def test_a_chinese_reader_reads_the_problems_and_the_progress_in_chinese(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """The check runs beside the request, in the lead's language (issue 18); the phase,
    stored in English, is translated when shown."""
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    rows = image_rows(4, 2)
    rows[1]["confidence"] = 7
    rows[3]["image"] = "images/missing.png"
    sign_in(client, "lead")
    client.headers["Accept-Language"] = "zh-CN"
    response = upload(client, project, csv_bytes(rows), images=zip_bytes(images_for(rows[:3])))
    page = soup(client.get(response.headers["location"]).text)
    problems = [li.get_text(" ", strip=True) for li in page.select("#problems li")]
    # Chinese punctuation is full-width (docs/glossary.md).
    assert problems == [
        "第 3 行， confidence 7 不在 0..1 之间",  # noqa: RUF001
        "第 5 行， image 图片中没有文件 'images/missing.png'",  # noqa: RUF001
    ]
    assert one(page, "h3.bad").get_text() == "2 个问题：不会导入任何内容"  # noqa: RUF001

    job = saved_job(
        settings,
        project,
        lead,
        state=JobState.IMPORTING,
        phase=Phase.CHECKING_IMAGES.value,
        done=250,
        total=1000,
    )
    fragment = soup(
        client.get(url(client, "import_job", project_id=project.id, job_id=job.id)).text
    )
    assert one(fragment, "#import-phase").get_text() == "正在检查图片"
    shown = one(fragment, "#import-job").get_text(strip=True)
    assert "正在检查图片：250 / 1,000" in shown  # noqa: RUF001


def test_an_import_whose_server_died_says_so(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    job, _ = create_job(
        settings.media_path,
        project,
        lead.id,
        manifest_name="m.csv",
        images=None,
        options=ImportOptions(run="v1"),
    )
    job.state = JobState.IMPORTING
    save_job(settings.media_path, job)
    status = settings.media_path / ".imports" / job.id / "status.json"
    old = time.time() - 3600
    import json

    data = json.loads(status.read_text())
    data["updated_at"] = old
    status.write_text(json.dumps(data))
    assert load_job(settings.media_path, job.id, project, lead.id).state is JobState.FAILED
    sign_in(client, "lead")
    page = soup(client.get(url(client, "import_job", project_id=project.id, job_id=job.id)).text)
    assert "stopped without finishing" in one(page, "#import-job [role=alert]").get_text()
    assert one(page, "#import-job")["data-state"] == "failed"


def test_another_lead_cannot_open_someone_elses_import(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead, other = make_user(session, "lead"), make_user(session, "other")
    project = make_project(session, lead)
    from app.domain.projects.team import add_member
    from app.models import ProjectRole

    add_member(session, project, other, ProjectRole.LEAD)
    job, _ = create_job(
        settings.media_path,
        project,
        lead.id,
        manifest_name="m.csv",
        images=None,
        options=ImportOptions(run="v1"),
    )
    sign_in(client, "other")
    page = url(client, "import_job", project_id=project.id, job_id=job.id)
    assert client.get(page).status_code == 404
    assert client.get(page.replace(job.id, "..%2F..%2Fetc")).status_code == 404


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "eyeball-test-boundary"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_upload_forms_are_checked_for_the_csrf_token(client: TestClient, session: Session) -> None:
    """The token must come first; a file before it, or no token, is refused before any work."""
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    sign_in(client, "lead")
    token = csrf_token(client)
    target = url(client, "import_upload", project_id=project.id)
    manifest = csv_bytes(image_rows(2, 1))
    for parts in (
        [("manifest", "m.csv", manifest), ("csrftoken", None, token.encode())],
        [("run", None, b"v1"), ("manifest", "m.csv", manifest)],
        [("csrftoken", None, b"forged"), ("manifest", "m.csv", manifest)],
    ):
        body, content_type = _multipart(parts)
        response = client.post(target, content=body, headers={"content-type": content_type})
        assert response.status_code == 403
    body, content_type = _multipart(
        [("csrftoken", None, token.encode()), ("manifest", "m.csv", manifest), ("run", None, b"x")]
    )
    accepted = client.post(target, content=body, headers={"content-type": content_type})
    assert accepted.status_code == 303


def test_a_folder_over_the_limits_or_climbing_out_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    lead = make_user(session, "lead")
    project = make_project(session, lead)
    rows = image_rows(3, 1)
    sign_in(client, "lead")
    jobs = settings.media_path / ".imports"

    settings.max_zip_entries = 2
    folder = {f"pick/{name}": data for name, data in images_for(rows).items()}
    response = upload(client, project, csv_bytes(rows), folder=folder)
    assert response.status_code == 422
    assert one(soup(response.text), "#folder-problem").get_text() == (
        "The folder holds more than 2 files."
    )
    settings.max_zip_entries = 100
    response = upload(client, project, csv_bytes(rows), folder={"pick/../../evil.png": b"x"})
    assert response.status_code == 422
    assert (
        "is not a path inside the folder" in one(soup(response.text), "#folder-problem").get_text()
    )
    assert not (settings.media_path.parent / "evil.png").exists()
    assert list(jobs.iterdir()) == [], "a refused upload leaves nothing behind"
