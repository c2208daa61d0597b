"""Server-sent events: open pages learn of committed changes in their project."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from app.db import Database
from app.dependencies import SESSION_EPOCH, SESSION_USER, ProjectAccessDep
from app.domain.live import ACCESS
from app.domain.projects.access import still_watching
from app.domain.review.visibility import Visibility, visibility_of
from app.live import Hub
from app.routing import CheckedRoute

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

# A stream re-checks its access before every event it sends, on every `access`
# announcement (removal, sign-out, deactivation), and at least this often when quiet:
# the safety net for a change that announces nothing (an admin made a member again).
RECHECK_SECONDS = 30.0


@router.get("/projects/{project_id}/events", name="project_events")
async def project_events(
    request: Request, access: ProjectAccessDep, run: int | None = None
) -> EventSourceResponse:
    """Events are named by kind ("annotation", "cause", ...), so an htmx fragment can
    refresh itself with `hx-trigger="sse:annotation"`.

    A page about one run passes `run` (its id) and is not told of annotations in other
    runs: a sheet would otherwise reload itself for every save in the project.

    Under blind review an annotator's stream says only which error changed
    (`Visibility.event`), never whose save it was: their page then asks for its own view
    of that error, which holds back what they may not see yet.
    """
    hub: Hub = request.app.state.hub
    database: Database = request.app.state.database
    project_id = access.project.id
    user_id, epoch = request.session.get(SESSION_USER), request.session.get(SESSION_EPOCH)

    def seen_by_now() -> Visibility | None:
        """What the viewer may see now (None: they may no longer watch): asked before
        every event, so a lead turning blind review on, or a lead made an annotator,
        holds back the very next event and not only those of the next connection."""
        with database.reader() as session:
            now = still_watching(session, user_id, epoch, project_id)
            return visibility_of(now) if now is not None else None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with hub.subscription(project_id) as queue:
            # Tells the page (and tests) that nothing committed from now on is missed.
            yield ServerSentEvent(event="subscribed", data="{}")
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
                except TimeoutError:
                    change = None
                seen_by = await run_in_threadpool(seen_by_now)
                if seen_by is None:
                    # Ending the response closes the stream; the page's EventSource
                    # reconnects, and is refused like any request of a lost sign-in.
                    yield ServerSentEvent(event="ended", data="{}")
                    return
                if change is None or change.kind == ACCESS:
                    continue
                if run is not None and change.kind == "annotation" and change.data["run"] != run:
                    continue
                data = seen_by.event(change.data) if change.kind == "annotation" else change.data
                yield ServerSentEvent(event=change.kind, data=json.dumps(data))

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})
