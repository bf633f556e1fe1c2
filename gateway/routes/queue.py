"""The job API: submit, list, status, events, audio."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from gateway import access
from gateway.openapi import (
    KEY_SECURITY,
    NEEDS_KEY,
    NEEDS_READER,
    NO_JOB,
    READER_SECURITY,
    SUBMIT_ERRORS,
    UNAVAILABLE,
    event_stream_response,
)
from gateway.services import ServicesDep, limit_rate, require_api_key, require_job_reader
from gateway.status import status_of
from gateway.stream import ended_events, event_stream
from gateway.submission import submit
from shared import redis_names as names
from shared.api import JobStatus, QueueOverview, SubmitRequest, SubmitResponse
from shared.healthcheck import live_workers
from shared.http_errors import ApiError, error_response

router = APIRouter()
WRITES = [Depends(require_api_key), Depends(limit_rate)]
JOB_READS = [Depends(require_job_reader)]


@router.post(
    "/queue",
    response_model=SubmitResponse,
    status_code=202,
    dependencies=WRITES,
    openapi_extra=KEY_SECURITY,
    response_description="queued; or joined, when the same content is queued or running",
    responses={
        200: {
            "model": SubmitResponse,
            "description": "`cached: true`: the same content, style, tasks, labels and voice "
            "were done already; the earlier job answers and nothing runs (unless `refresh`)",
        },
        **SUBMIT_ERRORS,
    },
)
async def post_queue(req: SubmitRequest, request: Request, services: ServicesDep) -> JSONResponse:
    """Submit a URL or text. 202 with the job's URLs; 200 with `cached: true` when the
    same content, style and tasks were already done (unless `refresh`)."""
    code, body = await submit(req, services, access.client_address(services.settings, request))
    return JSONResponse(body.model_dump(), code)


@router.get(
    "/queue/{job_id}",
    response_model=JobStatus,
    dependencies=JOB_READS,
    openapi_extra=READER_SECURITY,
    responses={**NEEDS_READER, **NO_JOB, **UNAVAILABLE},
)
async def get_job(job_id: str, services: ServicesDep) -> JobStatus:
    return await status_of(services, job_id)


@router.get(
    "/queue",
    response_model=QueueOverview,
    dependencies=[Depends(require_api_key)],
    openapi_extra=KEY_SECURITY,
    responses={**NEEDS_KEY, **UNAVAILABLE},
)
async def get_queue(services: ServicesDep) -> QueueOverview:
    def overview() -> QueueOverview:
        queue = services.queue
        return QueueOverview(
            depth=queue.count,
            workers=len(live_workers(queue.connection)),
            started=queue.started_job_registry.count,
            failed=queue.failed_job_registry.count,
            recent=[
                {"job_id": r.job_id, "status": r.status, "title": r.title}
                for r in services.store.recent(10)
            ],
        )

    return await anyio.to_thread.run_sync(overview)


@router.get(
    "/queue/{job_id}/events",
    response_class=Response,
    dependencies=JOB_READS,
    openapi_extra=READER_SECURITY,
    responses={
        200: event_stream_response("The job's events: from the first, or after `Last-Event-ID`."),
        204: {"description": "the job has ended and the reader has its last event"},
        **NEEDS_READER,
        **NO_JOB,
        422: error_response("`Last-Event-ID` is not a whole number >= 0 (`invalid_request`)"),
        **UNAVAILABLE,
    },
)
async def get_events(
    job_id: str,
    request: Request,
    services: ServicesDep,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> Response:
    """Server-Sent Events: every event from the start (or after Last-Event-ID), then
    live, ending after `done` or `error`. 204 (which stops a browser's EventSource from
    reconnecting) when the reader already has the ended job's last event."""
    ended = await ended_events(services, job_id, last_event_id)
    if ended == []:
        return Response(status_code=204)
    return event_stream(request, services, job_id, last_event_id, ended)


@router.get(
    "/queue/{job_id}/audio",
    response_class=Response,
    dependencies=JOB_READS,
    openapi_extra=READER_SECURITY,
    responses={
        200: {
            "description": "the narration (MP3 bytes)",
            "content": {"audio/mpeg": {}},  # OpenAPI 3.1: binary content has no schema
        },
        **NEEDS_READER,
        404: error_response("no such job, or it has no audio (`not_found`)"),
        **UNAVAILABLE,
    },
)
async def get_audio(job_id: str, services: ServicesDep) -> Response:
    """The MP3 from the store, or from Redis while its store write waits (store down)."""
    mp3 = await services.redis.hget(names.pending_store_write(job_id), "audio")
    if mp3 is None:
        mp3 = await anyio.to_thread.run_sync(services.store.audio, job_id)
    if mp3 is None:
        raise ApiError(404, "not_found", f"no audio for job {job_id}")
    return Response(mp3, media_type="audio/mpeg")
