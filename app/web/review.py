"""The review screen: one error at a time, its annotation saved on every toggle."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from app.dependencies import LeadAccess, ProjectAccessDep, SessionDep, writes_on_get
from app.domain.analysis.label_suspects import suspicion_of
from app.domain.errors import DomainError, InvalidInput
from app.domain.projects.access import ProjectAccess
from app.domain.projects.causes import (
    SimilarCauseExists,
    cause_example,
    cause_groups,
    may_add_causes,
)
from app.domain.projects.pipeline import pipeline_of
from app.domain.projects.runs import home_run, resolve_run
from app.domain.review import annotations as ann
from app.domain.review import queue
from app.domain.review import screen as review
from app.domain.review.carried import carried_verdict
from app.domain.review.visibility import visibility_of
from app.errors import status_of
from app.i18n import gettext as _
from app.models import AnnotationStatus, Run
from app.routing import CheckedRoute
from app.templating import is_htmx, path_for, render
from app.web.auth import safe_next

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


class AnnotationForm:
    """The whole state the screen holds; every save sends all of it (saves replace)."""

    def __init__(
        self,
        version: Annotated[int, Form()] = 0,
        cause: Annotated[list[int] | None, Form()] = None,
        label_error: Annotated[str, Form()] = "",
        suggested_label: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        status: Annotated[str, Form()] = AnnotationStatus.IN_PROGRESS.value,
        skip_reason: Annotated[str, Form()] = "",
        advance: Annotated[str, Form()] = "",
    ) -> None:
        self.version = version
        self.advance = advance
        try:
            parsed_status = AnnotationStatus(status)
        except ValueError:
            raise InvalidInput(
                {"status": _("Unknown status %(status)s.", status=repr(status))}
            ) from None
        self.draft = ann.Draft(
            cause_ids=frozenset(cause or ()),
            label_error=bool(label_error),
            suggested_label=suggested_label or None,
            note=note,
            status=parsed_status,
            skip_reason=skip_reason,
        )


def _error_url(request: Request, access: ProjectAccess, run: Run, external_id: str) -> str:
    return path_for(
        request.app,
        "review_error",
        project_id=access.project.id,
        run_name=run.name,
        external_id=external_id,
    )


def _context(
    session: Session,
    access: ProjectAccess,
    run: Run,
    offer: queue.Offer,
    *,
    page: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """What the screen shows; `page=False` skips what only the whole page uses (a save
    returns the annotation panel alone, and must stay fast)."""
    state, version, revisit = review.my_state(session, access, offer.prediction)
    blob = (
        review.image_of(session, access, offer.sample.image_sha256)
        if page and offer.sample.image_sha256
        else None
    )
    context: dict[str, Any] = {
        "access": access,
        "project": access.project,
        "run": run,
        "prediction": offer.prediction,
        "sample": offer.sample,
        "image": blob,
        "record_fields": review.record_fields(offer.sample),
        "probabilities": review.top_probabilities(offer.prediction, offer.sample),
        "suspicion": suspicion_of(session, offer.prediction) if page else None,
        "settled": review.adjudication_of(session, access, offer.prediction) if page else None,
        "revisit": revisit,
        "state": state,
        "version": version,
        "cause_groups": cause_groups(session, access.project),
        # Its group is shown with the method's test, and a module's key blames it alone.
        "pipeline": pipeline_of(session, access.project),
        "may_add_causes": may_add_causes(access),
        "new_cause_example": cause_example(access.project),
        "progress": queue.progress(session, access, run) if page else None,
        "history": (
            review.error_history(session, access, offer.prediction)
            if visibility_of(access).reads_history
            else []
        ),
        "message": None,
        "message_is_error": False,
        # Only in a panel sent alone: the shortcut list's definitions come with it.
        "oob_definitions": False,
        "revisits_asked": None,
        "similar": [],
        "new_cause_name": "",
        # Only while this annotator has marked nothing: then it is a suggestion to take.
        "carried": (
            carried_verdict(
                session, access.project, run, offer.sample.id, seen_by=visibility_of(access)
            )
            if not state.cause_ids and not state.label_error
            else None
        ),
    }
    context.update(extra)
    return context


def _fragment(
    request: Request,
    session: Session,
    access: ProjectAccess,
    run: Run,
    offer: queue.Offer,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The annotation panel for htmx. Anything else (a reload or a copied link of the
    panel's URL, a form sent without scripts) gets the review screen around it, which the
    panel alone cannot be rendered as."""
    if not is_htmx(request):
        url = _error_url(request, access, run, offer.sample.external_id)
        return RedirectResponse(url, status_code=303)
    return render(
        request,
        "review.html",
        _context(session, access, run, offer, oob_definitions=True, **extra),
        fragment="annotation",
        status_code=status_code,
        headers=headers,
    )


@router.get("/projects/{project_id}/review", name="review_next")
@writes_on_get
def review_next(
    request: Request, access: ProjectAccessDep, session: SessionDep, run: str | None = None
) -> Response:
    """Claim the next error in the queue and open it."""
    chosen = resolve_run(session, access.project, run) if run else home_run(session, access.project)
    offer = queue.next_error(session, access, chosen) if chosen is not None else None
    if offer is None or chosen is None:
        context = {"access": access, "project": access.project, "run": chosen}
        if chosen is not None:
            context["progress"] = queue.progress(session, access, chosen)
        return render(request, "review_done.html", context)
    return RedirectResponse(
        _error_url(request, access, chosen, offer.sample.external_id), status_code=303
    )


@router.get("/projects/{project_id}/runs/{run_name}/errors/{external_id:path}", name="review_error")
def review_error(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    run_name: str,
    external_id: str,
    revisits: int | None = None,
) -> Response:
    # Read-only, so on SQLite the page never waits behind savers. Errors reached by
    # "next" are already claimed; one opened by a jump is claimed by its first save.
    run = review.run_of(session, access, run_name)
    offer = queue.find_error(session, access, run, external_id)
    previous = queue.previous_error(session, access, run, offer.prediction)
    context = _context(
        session,
        access,
        run,
        offer,
        page=True,
        previous_url=(
            _error_url(request, access, run, previous.sample.external_id) if previous else None
        ),
        revisits_asked=revisits,
    )
    return render(request, "review.html", context)


@router.get(
    "/projects/{project_id}/runs/{run_name}/annotation/{external_id:path}",
    name="review_annotation",
)
def review_annotation(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    run_name: str,
    external_id: str,
) -> Response:
    """The annotation panel alone: refreshed when a cause is added elsewhere."""
    run = review.run_of(session, access, run_name)
    return _fragment(
        request, session, access, run, queue.find_error(session, access, run, external_id)
    )


def _refused(
    request: Request,
    session: Session,
    access: ProjectAccess,
    run: Run,
    offer: queue.Offer,
    exc: DomainError,
) -> Response:
    """A refused save shows why, with what is stored now, never a half-applied state."""
    session.rollback()
    return _fragment(
        request,
        session,
        access,
        run,
        offer,
        status_code=status_of(exc),
        message=exc.message,
        message_is_error=True,
    )


@router.post(
    "/projects/{project_id}/runs/{run_name}/annotation/{external_id:path}",
    name="review_save",
)
def review_save(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    run_name: str,
    external_id: str,
    form: Annotated[AnnotationForm, Depends()],
) -> Response:
    run = review.run_of(session, access, run_name)
    offer = queue.find_error(session, access, run, external_id)
    try:
        if form.advance:
            following = review.finish(
                session, access, run, offer.prediction, form.draft, expected_version=form.version
            )
            target = (
                _error_url(request, access, run, following.sample.external_id)
                if following
                else path_for(request.app, "review_next", project_id=access.project.id)
                + "?"
                + urlencode({"run": run.name})
            )
            return Response(status_code=204, headers={"HX-Redirect": target})
        ann.save(session, access, offer.prediction, form.draft, expected_version=form.version)
        queue.hold(session, access, offer.prediction)  # still working on it: keep the claim
    except DomainError as exc:
        return _refused(request, session, access, run, offer, exc)
    return _fragment(request, session, access, run, offer)


@router.post(
    "/projects/{project_id}/runs/{run_name}/undo/{external_id:path}",
    name="review_undo",
)
def review_undo(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    run_name: str,
    external_id: str,
    version: Annotated[int, Form()] = 0,
) -> Response:
    run = review.run_of(session, access, run_name)
    offer = queue.find_error(session, access, run, external_id)
    try:
        review.undo(session, access, offer.prediction, expected_version=version)
    except DomainError as exc:
        return _refused(request, session, access, run, offer, exc)
    return _fragment(request, session, access, run, offer, message=_("Undone."))


@router.post(
    "/projects/{project_id}/runs/{run_name}/new-cause/{external_id:path}",
    name="review_new_cause",
)
def review_new_cause(
    request: Request,
    access: ProjectAccessDep,
    session: SessionDep,
    run_name: str,
    external_id: str,
    form: Annotated[AnnotationForm, Depends()],
    new_cause: Annotated[str, Form()] = "",
    allow_similar: Annotated[str, Form()] = "",
) -> Response:
    run = review.run_of(session, access, run_name)
    offer = queue.find_error(session, access, run, external_id)
    try:
        cause, _applied = review.create_and_apply(
            session,
            access,
            offer.prediction,
            new_cause,
            form.draft,
            expected_version=form.version,
            allow_similar=bool(allow_similar),
        )
    except SimilarCauseExists as exc:
        return _fragment(
            request,
            session,
            access,
            run,
            offer,
            message=exc.message,
            message_is_error=True,
            similar=exc.similar,
            new_cause_name=new_cause,
        )
    except DomainError as exc:
        return _refused(request, session, access, run, offer, exc)
    added = (
        _("Added %(name)s (key %(key)s).", name=repr(cause.name), key=cause.key)
        if cause.key
        else _("Added %(name)s.", name=repr(cause.name))
    )
    return _fragment(request, session, access, run, offer, message=added)


@router.post(
    "/projects/{project_id}/runs/{run_name}/restore/{external_id:path}",
    name="review_restore",
)
def review_restore(
    request: Request,
    access: LeadAccess,
    session: SessionDep,
    run_name: str,
    external_id: str,
    event: Annotated[int, Form()],
    version: Annotated[int, Form()],
) -> Response:
    run = review.run_of(session, access, run_name)
    offer = queue.find_error(session, access, run, external_id)
    try:
        review.restore(session, access, offer.prediction, event, expected_version=version)
    except DomainError as exc:
        return _refused(request, session, access, run, offer, exc)
    return _fragment(request, session, access, run, offer, message=_("Restored."))


@router.post("/projects/{project_id}/revisit", name="review_revisit")
def review_revisit(
    request: Request,
    access: LeadAccess,
    session: SessionDep,
    cause: Annotated[int, Form()],
    back: Annotated[str, Form()] = "",
) -> Response:
    marked = review.ask_revisit(session, access, cause)
    target = safe_next(back, str(request.app.url_path_for("project", project_id=access.project.id)))
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}revisits={marked}", status_code=303)
