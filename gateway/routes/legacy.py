"""The older client's one-call endpoint: scrape, enqueue, stream the summary's events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from gateway import access
from gateway.openapi import KEY_SECURITY, SUBMIT_ERRORS, event_stream_response
from gateway.routes.queue import WRITES
from gateway.services import ServicesDep
from gateway.stream import ended_events, event_stream
from gateway.submission import submit
from shared.api import SubmitRequest
from shared.schemas import Style

router = APIRouter()


@router.post(
    "/api/v4/scrape-and-summarize/stream",
    response_class=Response,
    dependencies=WRITES,
    openapi_extra=KEY_SECURITY,
    responses={
        200: event_stream_response("The job's events, from the first (a cached result's at once)."),
        **SUBMIT_ERRORS,
    },
)
async def legacy_stream(
    request: Request,
    services: ServicesDep,
    url: Annotated[str, Query(max_length=2048)],
    style: Style = "skimmer",
) -> Response:
    """The older client's one call: scrape, enqueue and stream the summary's events (with
    `highlights` and `provenance` events first and after, which it may ignore)."""
    try:
        req = SubmitRequest(url=url, style=style, tasks=["highlights", "summary"])
    except ValidationError as exc:  # the same 422 as a bad body: fields named, no 500
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    _, body = await submit(req, services, access.client_address(services.settings, request))
    ended = await ended_events(services, body.job_id, 0)  # a cached result has ended
    return event_stream(request, services, body.job_id, 0, ended)
