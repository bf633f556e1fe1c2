"""The gateway's OpenAPI document: the errors each kind of route answers with (declared by
the routes), the rest of the truth about errors (`shared.openapi`), and the job event stream
(`shared.openapi_events`)."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import FastAPI

from shared import openapi
from shared.events import EVENT_DATA, EventType
from shared.http_errors import error_response
from shared.openapi_events import Event, EventStream

Responses = dict[int | str, dict[str, Any]]  # a route's `responses=`

# Who may call: nobody needs anything while the gateway has no API key (the `{}` choice).
SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the API key (or, for /metrics only, GATEWAY_METRICS_TOKEN)",
    },
    "ReadToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "the job's `read_token` from its submission: opens that job only",
    },
    "ReadTokenHeader": {"type": "apiKey", "in": "header", "name": "X-Read-Token"},
}
KEY_SECURITY: dict[str, Any] = {"security": [{}, {"ApiKey": []}, {"Bearer": []}]}
READER_SECURITY: dict[str, Any] = {
    "security": [*KEY_SECURITY["security"], {"ReadToken": []}, {"ReadTokenHeader": []}]
}

# The errors each kind of route answers with (descriptions name the `error` codes).
NEEDS_KEY: Responses = {
    401: error_response("no valid API key (`unauthorized`), when the gateway has one")
}
NEEDS_READER: Responses = {
    401: error_response(
        "neither the API key nor this job's read token (`unauthorized`), when the gateway has a key"
    )
}
UNAVAILABLE: Responses = {
    503: error_response(
        "Redis or the result store is not answering (`redis_unavailable`, `store_unavailable`)",
        retry_after=True,
    )
}
NO_JOB: Responses = {404: error_response("no such job (`not_found`)")}
SUBMIT_ERRORS: Responses = {
    **NEEDS_KEY,
    413: error_response(
        "the request body is over `GATEWAY_MAX_REQUEST_BYTES` (`payload_too_large`), or the "
        "text, given or scraped, over `GATEWAY_MAX_TEXT_BYTES` (`text_too_large`)"
    ),
    422: error_response(
        "a value is not valid (`invalid_request`, `fields` names each one), the text has too "
        "few words (`too_few_words`), or the URL is refused or could not be read (its code "
        "says why, e.g. `blocked_address`, `dns_failed`, `fetch_failed`, `upstream_status`, "
        "`not_an_article`, `too_complex`)"
    ),
    429: error_response(
        "too many submissions a minute from this client (`rate_limited`), the queue is full "
        "(`queue_full`), or too many scrapes are running (`too_many_scrapes`, "
        "`scrapes_busy`)",
        retry_after=True,
    ),
    **UNAVAILABLE,
}

WHEN: dict[EventType, str] = {
    "status": "the job entered a stage (with its progress, 0-1)",
    "highlights": "the article's key sentences, before the summary (or why there are none)",
    "token": "the next piece of the summary's text, to append",
    "summary": "the finished structured summary",
    "provenance": "each claim of the summary with its supporting sentences",
    "entities": "the named entities",
    "audio": "the narration is ready at `data.url`",
    "error": "the job failed or its events were lost; the stream ends",
    "done": "the job finished, with each task's outcome; the stream ends",
}
JOB_EVENTS = EventStream(
    item="JobStreamEvent",
    events={kind: Event(WHEN[kind], EVENT_DATA[kind]) for kind in get_args(EventType)},
    id_description="the event's number in the job; resume after it with `Last-Event-ID`",
    example=[
        ("status", {"stage": "summarizing", "progress": 0.05}),
        ("token", {"text": "The council approved"}),
        ("token", {"text": " a bridge."}),
        ("done", {"status": "finished", "outcomes": {"summary": "ok"}}),
    ],
    headers={
        "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
        "X-Accel-Buffering": {
            "description": "tells a proxy (nginx) not to buffer the stream",
            "schema": {"type": "string", "const": "no"},
        },
    },
)


def event_stream_response(description: str) -> dict[str, Any]:
    """A `responses=` entry for a 200 that is a job's event stream."""
    return JOB_EVENTS.response(description)


def _complete(doc: dict[str, Any]) -> None:
    openapi.add_components(doc, JOB_EVENTS.components())
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES


def install(app: FastAPI) -> None:
    """Serve the gateway's document with truthful errors, the job events described and who
    may call what."""
    openapi.install(app, _complete)
