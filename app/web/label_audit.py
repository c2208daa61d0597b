"""The label audit of correct predictions: queue a random sample, check each label."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dependencies import OpenLeadAccess, ProjectAccessDep, SessionDep
from app.domain.errors import DomainError, InvalidInput
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run, runs_of
from app.domain.review import label_audit
from app.domain.review import screen as review
from app.errors import status_of
from app.i18n import gettext as _
from app.models import Run
from app.routing import CheckedRoute
from app.templating import flash, render
from app.web.forms import FormDep, field_errors, see_other

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


def _audit_page(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    run: Run,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    audit = label_audit.audit_of(session, run)
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "runs": runs_of(session, access.project),
        "audit": audit,
        "found": label_audit.found_wrong(session, run),
        "values": values or {"size": str(min(label_audit.DEFAULT_SIZE, audit.may_queue) or 1)},
        "errors": errors or {},
        "max_size": label_audit.MAX_SIZE,
    }
    return render(request, "label_audit.html", context, status_code=status_code)


@router.get("/projects/{project_id}/runs/{run}/label-audit", name="label_audit")
def audit_page(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    return _audit_page(request, session, access, resolve_run(session, access.project, run))


@router.post("/projects/{project_id}/runs/{run}/label-audit", name="label_audit_queue")
def audit_queue(
    request: Request, run: str, access: OpenLeadAccess, session: SessionDep, form: FormDep
) -> Response:
    found = resolve_run(session, access.project, run)
    size = whole_number(form.get("size"))
    if size is None:
        problems = {"size": _("A whole number: how many correct predictions to check.")}
        return _audit_page(
            request, session, access, found, values=form, errors=problems, status_code=422
        )
    try:
        queued = label_audit.queue_audit(session, access, found, size)
    except DomainError as exc:
        return _audit_page(
            request,
            session,
            access,
            found,
            values=form,
            errors=field_errors(exc, "size"),
            status_code=status_of(exc),
        )
    flash(
        request,
        _("%(count)s correctly classified samples queued for a label check.", count=queued),
    )
    return see_other(request, "label_audit", project_id=access.project.id, run=found.name)


def _check_page(
    request: Request,
    session: SessionDep,
    access: ProjectAccess,
    run: Run,
    check: label_audit.Check,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    sha = check.sample.image_sha256
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "run": run,
        "check": check,
        "sample": check.sample,
        "prediction": check.prediction,
        "image": review.image_of(session, access, sha) if sha else None,
        "record_fields": review.record_fields(check.sample),
        "values": values or {"suggested_label": check.check.suggested_label or ""},
        "errors": errors or {},
    }
    return render(request, "label_check.html", context, status_code=status_code)


@router.get("/projects/{project_id}/runs/{run}/label-audit/next", name="label_check_next")
def check_next(
    request: Request, run: str, access: ProjectAccessDep, session: SessionDep
) -> Response:
    found = resolve_run(session, access.project, run)
    check = label_audit.next_check(session, access, found)
    if check is None:
        flash(request, _("Every queued label is checked."))
        return see_other(request, "label_audit", project_id=access.project.id, run=found.name)
    return see_other(
        request,
        "label_check",
        project_id=access.project.id,
        run=found.name,
        check_id=check.check.id,
    )


@router.get("/projects/{project_id}/runs/{run}/label-audit/{check_id}", name="label_check")
def check_page(
    request: Request, run: str, check_id: int, access: ProjectAccessDep, session: SessionDep
) -> Response:
    found = resolve_run(session, access.project, run)
    check = label_audit.find_check(session, access, found, check_id)
    return _check_page(request, session, access, found, check)


@router.post("/projects/{project_id}/runs/{run}/label-audit/{check_id}", name="label_check_save")
def check_save(
    request: Request,
    run: str,
    check_id: int,
    access: ProjectAccessDep,
    session: SessionDep,
    form: FormDep,
) -> Response:
    found = resolve_run(session, access.project, run)
    try:
        verdict = form.get("verdict", "")
        if verdict not in {"right", "wrong"}:
            raise InvalidInput({"verdict": _("Say whether the label is right or wrong.")})
        label_audit.record_check(
            session,
            access,
            found,
            check_id,
            label_wrong=verdict == "wrong",
            suggested_label=form.get("suggested_label"),
        )
    except InvalidInput as exc:
        check = label_audit.find_check(session, access, found, check_id)
        return _check_page(
            request, session, access, found, check, values=form, errors=exc.fields, status_code=422
        )
    return see_other(request, "label_check_next", project_id=access.project.id, run=found.name)
