"""A job's event stream as Server-Sent Events: replayed, then live, always ending; an ended
job's stream is made from its log or, once that expired, from its status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from sse_starlette import EventSourceResponse

from gateway.services import Services
from gateway.status import status_of
from shared import redis_names as names
from shared.eventlog import follow, replay
from shared.events import EventType, JobEvent
from shared.http_errors import ApiError
from shared.jobstate import is_terminal


async def ended_events(
    services: Services, job_id: str, after: int, log_lost: bool = False
) -> list[JobEvent] | None:
    """For a job that is over: what its stream still owes a reader after `after`, ending
    with its terminal event (made from the job's status when the log expired, Redis lost it
    (`log_lost`) or the worker has not published it yet). None while the job may still
    produce events; 404 for a job with neither a status nor logged events."""
    try:
        status = await status_of(services, job_id)
    except ApiError:
        if not log_lost and await services.redis.exists(names.events_log(job_id)):
            return None  # events logged, but no status (yet): still live
        raise
    if not is_terminal(status.status):
        return None
    logged = [] if log_lost else await replay(services.hub.client, job_id, 0)
    owed = [e for e in logged if e.seq > after]
    if any(e.terminal for e in logged):
        return owed
    seq = max([after, *(e.seq for e in logged)])
    made: list[tuple[EventType, dict[str, Any]]] = []
    result = status.result or {}
    if not logged and after == 0:  # the log expired: the stored result stands in for it
        if result.get("highlights"):
            made.append(("highlights", result["highlights"]))
        if result.get("summary"):
            made.append(("summary", result["summary"]))
        if result.get("provenance"):
            made.append(("provenance", result["provenance"]))
        if result.get("entities") is not None:
            made.append(("entities", {"entities": result["entities"]}))
    if status.status == "finished":
        made.append(("done", {"status": "finished", "outcomes": result.get("outcomes", {})}))
    else:
        made.append(("error", {"error": "job_failed", "detail": status.error or "failed"}))
    return owed + [
        JobEvent(seq=seq + i, type=kind, data=data) for i, (kind, data) in enumerate(made, 1)
    ]


async def events(
    request: Request,
    services: Services,
    job_id: str,
    after: int,
    ended: list[JobEvent] | None,
) -> AsyncIterator[dict[str, str]]:
    async def settle(last: int, log_lost: bool) -> list[JobEvent] | None:
        """After a Redis outage: did the job end meanwhile (its end maybe never logged)?"""
        try:
            return await ended_events(services, job_id, last, log_lost)
        except ApiError:
            return None  # Redis and the store know nothing of it (yet)

    services.metrics.sse_clients.inc()
    try:
        source = (
            _listed(ended)
            if ended is not None
            else follow(services.hub, job_id, after, settle=settle)
        )
        async for event in source:
            if event is None:
                if await request.is_disconnected():
                    return
                continue
            if event.type == "token":
                services.metrics.tokens_streamed.inc()
            yield {"event": event.type, "id": str(event.seq), "data": json.dumps(event.data)}
    finally:
        services.metrics.sse_clients.dec()


async def _listed(events: list[JobEvent]) -> AsyncIterator[JobEvent | None]:
    for event in events:
        yield event


def event_stream(
    request: Request,
    services: Services,
    job_id: str,
    after: int,
    ended: list[JobEvent] | None = None,
) -> Response:
    return EventSourceResponse(
        events(request, services, job_id, after, ended),
        ping=services.settings.sse_ping_s,
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
    )
