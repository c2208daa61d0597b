"""A project's causes: the columns of the sheet."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ApiOpenLeadAccess, ApiProject, CauseId
from app.api.responses import INVALID, LEADS_ONLY, PROJECT_ERRORS, problem
from app.dependencies import SessionDep
from app.domain.projects import causes as domain
from app.domain.projects.access import ProjectAccess
from app.domain.review.visibility import visibility_of
from app.models import Cause
from app.routing import CheckedRoute
from app.schemas.causes import CauseIn, CauseOut, CausePatch, MergeIn, MergeOut

router = APIRouter(route_class=CheckedRoute, tags=["causes"])

SIMILAR = problem(
    "A cause with the same or a similar name exists (send allow_similar for a similar one)",
    "A similar cause exists: 'Blurry'. Use it, or give the new one a more distinct name.",
)
NO_CAUSE = problem("No such project or cause", "No such cause in this project.")


def _out(session: SessionDep, access: ProjectAccess, cause: Cause) -> CauseOut:
    groups = {g.id: g.name for g in domain.groups_of(session, access.project)}
    return CauseOut(
        id=cause.id,
        name=cause.name,
        description=cause.description,
        group=groups[cause.group_id],
        key=cause.key,
        archived=cause.archived_at is not None,
        uses=domain.times_used(session, cause),
    )


@router.get(
    "/projects/{project_id}/causes",
    name="api_causes",
    response_model=list[CauseOut],
    summary="The project's causes",
    description="Active causes in their groups' order (as on the review screen), then the "
    "archived ones, which old annotations and exports still name.",
    responses=PROJECT_ERRORS,
)
def list_causes(access: ApiProject, session: SessionDep) -> list[CauseOut]:
    taxonomy = domain.taxonomy(session, access.project, visibility_of(access))
    names = {g.id: g.name for g, _ in taxonomy.groups}
    return [
        CauseOut(
            id=c.id,
            name=c.name,
            description=c.description,
            group=names[c.group_id],
            key=c.key,
            archived=c.archived_at is not None,
            uses=taxonomy.counts.get(c.id, 0),
        )
        for c in (*taxonomy.active, *taxonomy.archived)
    ]


@router.post(
    "/projects/{project_id}/causes",
    name="api_create_cause",
    status_code=201,
    response_model=CauseOut,
    summary="Add a cause",
    description="Leads only, unless the project lets annotators add causes. A name equal to an "
    "existing one in any case or spacing is refused; a similar one is refused unless "
    "`allow_similar` is true, so one idea never gets two columns. A new group name creates "
    "the group.",
    responses={**PROJECT_ERRORS, 403: LEADS_ONLY, 409: SIMILAR, 422: INVALID},
)
def create_cause(body: CauseIn, access: ApiProject, session: SessionDep) -> CauseOut:
    group = domain.group_named(session, access, body.group) if body.group else None
    cause = domain.create_cause(
        session,
        access,
        body.name,
        description=body.description,
        group_id=group.id if group else None,
        key=body.key,
        allow_similar=body.allow_similar,
    )
    return _out(session, access, cause)


@router.patch(
    "/projects/{project_id}/causes/{cause_id}",
    name="api_update_cause",
    response_model=CauseOut,
    summary="Rename, describe, re-key, move, archive or unarchive a cause",
    description="Leads only. Only the fields given change; a rename keeps every annotation "
    "(they point at the cause, not its name). `group` moves it to another group (its end, "
    "unless `position` is given); `position` places it within its group. Archiving hides "
    "the cause from review and frees its key; annotations and exports keep it.",
    responses={**PROJECT_ERRORS, 404: NO_CAUSE, 403: LEADS_ONLY, 409: SIMILAR, 422: INVALID},
)
def update_cause(
    cause_id: CauseId, body: CausePatch, access: ApiOpenLeadAccess, session: SessionDep
) -> CauseOut:
    cause = domain.get_cause(session, access, cause_id)
    if body.archived is False:
        domain.unarchive_cause(session, access, cause.id)
    edits = body.model_dump(exclude_unset=True, exclude={"archived", "allow_similar", "position"})
    if edits or (body.archived is None and body.position is None):
        group = domain.group_named(session, access, body.group) if body.group else None
        domain.update_cause(
            session,
            access,
            cause.id,
            name=body.name if body.name is not None else cause.name,
            description=body.description if body.description is not None else cause.description,
            key=body.key if body.key is not None else (cause.key or ""),
            group_id=group.id if group else cause.group_id,
            allow_similar=body.allow_similar,
        )
    if body.position is not None:
        domain.place_cause(session, access, cause.id, body.position)
    if body.archived:
        domain.archive_cause(session, access, cause.id)
    return _out(session, access, cause)


@router.post(
    "/projects/{project_id}/causes/{cause_id}/merge",
    name="api_merge_cause",
    response_model=MergeOut,
    summary="Merge a cause into another",
    description="Leads only. Every annotation of this cause gets the other one instead (one "
    "event each, so every change can be seen and undone in the error's history); this cause "
    "is then archived. All or nothing: if one annotation cannot take the other cause (two "
    "causes of a one-per-error group), nothing changes.",
    responses={
        **PROJECT_ERRORS,
        404: NO_CAUSE,
        403: LEADS_ONLY,
        422: problem("Same cause, or the target is archived", "Pick another cause to merge into."),
    },
)
def merge_cause(
    cause_id: CauseId, body: MergeIn, access: ApiOpenLeadAccess, session: SessionDep
) -> MergeOut:
    done = domain.merge_causes(session, access, cause_id, body.into)
    return MergeOut(
        merged=done.source.id,
        into=done.target.id,
        annotations=done.annotations,
        errors=done.errors,
    )
