"""The import page: upload, preview, confirm, watch the progress (leads only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from app import i18n
from app.dependencies import DatabaseDep, OpenLeadAccess, SessionDep, SettingsDep
from app.domain.errors import InvalidInput, NotFound
from app.domain.imports.jobs import (
    FolderUpload,
    ImportJob,
    JobState,
    check_job,
    claim_job,
    create_job,
    discard_job,
    load_job,
    run_job,
    save_images_zip,
    save_manifest,
)
from app.domain.imports.manifests import Limits
from app.domain.imports.pipeline import ImportOptions
from app.domain.imports.store import media_store
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import runs_of
from app.errors import status_of
from app.i18n import gettext as _
from app.limits import UPLOADS, takes_body, upload_form
from app.models import SampleKind
from app.routing import CheckedRoute
from app.templating import is_htmx, render

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

Background = Callable[[Callable[[], None]], None]


def _background(request: Request) -> Background:
    """Runs work beside the request, in the reader's language: the problems and messages
    it saves for the page are read by the lead who started it."""
    runner: Background = request.app.state.run_in_background
    language = i18n.current_language()

    def in_language(work: Callable[[], None]) -> None:
        def spoken() -> None:
            with i18n.speaking(language):
                work()

        runner(spoken)

    return in_language


def _page(
    request: Request,
    access: ProjectAccess,
    session: SessionDep,
    *,
    job: ImportJob | None = None,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "access": access,
        "project": access.project,
        "runs": runs_of(session, access.project),
        "needs_images": access.project.kind is SampleKind.IMAGE,
        "job": job,
        "form": form or {},
        "form_problems": problems or {},
        "tab": "import",
    }
    return render(request, "import.html", context, fragment="job", status_code=status_code)


@router.get("/projects/{project_id}/import", name="import_page")
def import_page(request: Request, access: OpenLeadAccess, session: SessionDep) -> Response:
    return _page(request, access, session)


def _whole_number(value: str, field: str, problems: dict[str, str]) -> int | None:
    if not value.strip():
        return None
    number = whole_number(value)
    if number is None:
        problems[field] = _("Give a whole number, or leave it empty.")
    return number


def _file(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _upload(
    request: Request, access: OpenLeadAccess, settings: SettingsDep
) -> AsyncIterator[FormData]:
    """The upload, read only once `access` found the sender to be the project's lead:
    FastAPI solves that first, and a route without File() parameters leaves the body
    unread until here. Its files are closed when the request ends."""
    async with upload_form(request, settings) as form:
        yield form


UploadForm = Annotated[FormData, Depends(_upload)]


@router.post("/projects/{project_id}/import", name="import_upload")
@takes_body(UPLOADS)
def import_upload(
    request: Request,
    access: OpenLeadAccess,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
    posted: UploadForm,
) -> Response:
    manifest, images = _file(posted, "manifest"), _file(posted, "images")
    folder_files = [f for f in posted.getlist("folder") if isinstance(f, UploadFile) and f.filename]
    run = _field(posted, "run")
    form = {name: _field(posted, name) for name in ("run", "evaluated", "sample_errors", "seed")}
    problems: dict[str, str] = {}
    if manifest is None or not manifest.filename:
        problems["manifest"] = _("Choose the manifest (CSV or JSONL).")
    if images is not None and folder_files:
        problems["images"] = _("Give the images as a zip or as a folder, not both.")
    options = {
        name: _whole_number(value, name, problems) for name, value in form.items() if name != "run"
    }
    if problems or manifest is None or manifest.filename is None:
        return _page(request, access, session, form=form, problems=problems, status_code=422)

    media_dir = settings.media_path
    job, job_dir = create_job(
        media_dir,
        access.project,
        access.user.id,
        manifest_name=Path(manifest.filename).name,
        images="zip" if images is not None else "folder" if folder_files else None,
        options=ImportOptions(run=run.strip() or Path(manifest.filename).stem, **options),
    )
    limits = Limits.from_settings(settings)
    try:
        save_manifest(job_dir, manifest.file)
        if images is not None:
            save_images_zip(job_dir, images.file)
        upload = FolderUpload(job_dir, limits)
        for file in folder_files:
            upload.add(file.filename or "", file.file)
    except InvalidInput as exc:
        discard_job(media_dir, job)
        return _page(
            request, access, session, form=form, problems=exc.fields, status_code=status_of(exc)
        )

    project_id = access.project.id
    store = media_store(settings)
    _background(request)(lambda: check_job(database, store, project_id, job.id, limits))
    url = request.app.url_path_for("import_job", project_id=project_id, job_id=job.id)
    return RedirectResponse(url, status_code=303)


@router.get("/projects/{project_id}/import/{job_id}", name="import_job")
def import_job_page(
    request: Request,
    access: OpenLeadAccess,
    session: SessionDep,
    settings: SettingsDep,
    job_id: str,
) -> Response:
    job = load_job(settings.media_path, job_id, access.project, access.user.id)
    if job.state is JobState.DONE:
        # The end takes the lead to the project, where the errors are: from the poll that
        # sees it, and from the page itself when a small import was over before the
        # browser had even asked for it.
        url = request.app.url_path_for("project", project_id=access.project.id)
        landing = f"{url}?imported={job.id}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": landing})
        return RedirectResponse(landing, status_code=303)
    return _page(request, access, session, job=job)


@router.post("/projects/{project_id}/import/{job_id}/confirm", name="import_confirm")
def import_confirm(
    request: Request,
    access: OpenLeadAccess,
    settings: SettingsDep,
    database: DatabaseDep,
    job_id: str,
) -> Response:
    store = media_store(settings)
    job = load_job(store.folder, job_id, access.project, access.user.id)
    claim_job(store.folder, job)
    limits = Limits.from_settings(settings)
    project_id = access.project.id
    _background(request)(lambda: run_job(database, store, project_id, job.id, limits))
    url = request.app.url_path_for("import_job", project_id=project_id, job_id=job.id)
    return RedirectResponse(url, status_code=303)


def imported_notice(
    media_dir: Path, access: ProjectAccess, imported: str | None
) -> dict[str, Any] | None:
    """The summary of a just-finished import, for the project page to show."""
    if not imported or not access.can_lead:
        return None
    try:
        job = load_job(media_dir, imported, access.project, access.user.id)
    except NotFound:  # an old or foreign id: simply no notice
        return None
    return job.summary if job.state is JobState.DONE else None
