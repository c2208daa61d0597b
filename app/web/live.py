"""Server-sent events: open pages learn of committed changes in their project."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.dependencies import ProjectAccessDep
from app.live import Hub

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/events", name="project_events")
async def project_events(
    request: Request, access: ProjectAccessDep, run: int | None = None
) -> EventSourceResponse:
    """Events are named by kind ("annotation", "cause", ...), so an htmx fragment can
    refresh itself with `hx-trigger="sse:annotation"`.

    A page about one run passes `run` (its id) and is not told of annotations in other
    runs: a sheet would otherwise reload itself for every save in the project.
    """
    hub: Hub = request.app.state.hub
    project_id = access.project.id

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with hub.subscription(project_id) as queue:
            # Tells the page (and tests) that nothing committed from now on is missed.
            yield ServerSentEvent(event="subscribed", data="{}")
            while True:
                change = await queue.get()
                if run is not None and change.kind == "annotation" and change.data["run"] != run:
                    continue
                yield ServerSentEvent(event=change.kind, data=json.dumps(change.data))

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})
