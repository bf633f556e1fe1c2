"""The gateway's OpenAPI document: the errors each kind of route answers with (declared by
the routes), the rest of the truth about errors (`shared.openapi`), and the job event stream
described, one `components/schemas` entry per event and per event's data.

A stream is declared as OpenAPI 3.2 declares Server-Sent Events (section 4.14.4), and as
FastAPI's own SSE responses do: each event an object of `event`, `id` and `data`, `data` a
JSON string whose `contentSchema` is that event's data schema. The document is 3.1, where a
media type has no `itemSchema`, so the item schema goes under `x-itemSchema`.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from fastapi import FastAPI

from shared import openapi
from shared.events import EVENT_DATA, EventType
from shared.http_errors import error_response

Responses = dict[int | str, dict[str, Any]]  # a route's `responses=`

# The errors each kind of route answers with (descriptions name the `error` codes).
NEEDS_KEY: Responses = {401: error_response("no valid API key (`unauthorized`), when the gateway has one")}
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
        "says why, e.g. `blocked_address`, `dns_failed`, `fetch_failed`, `upstream_status`)"
    ),
    429: error_response(
        "too many submissions a minute from this client (`rate_limited`), the queue is full "
        "(`queue_full`), or too many scrapes are running (`too_many_scrapes`, "
        "`scrapes_busy`)",
        retry_after=True,
    ),
    **UNAVAILABLE,
}

STREAM_ITEM = "JobStreamEvent"
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
EXAMPLE = "".join(
    f"event: {kind}\nid: {seq}\ndata: {json.dumps(data)}\n\n"
    for seq, (kind, data) in enumerate(
        [
            ("status", {"stage": "summarizing", "progress": 0.05}),
            ("token", {"text": "The council approved"}),
            ("token", {"text": " a bridge."}),
            ("done", {"status": "finished", "outcomes": {"summary": "ok"}}),
        ],
        1,
    )
)


def _data_name(kind: EventType) -> str:
    models = EVENT_DATA[kind]
    return models[0].__name__ if len(models) == 1 else f"{kind.capitalize()}Data"


def _event_name(kind: EventType) -> str:
    return f"{kind.capitalize()}Event"


def event_components() -> dict[str, Any]:
    """Every event data model, an `<Type>Event` item per event type, and their union."""
    models = [m for kind in get_args(EventType) for m in EVENT_DATA[kind]]
    schemas = openapi.component_schemas(*models)
    ref = openapi.REF_TEMPLATE.format
    for kind in get_args(EventType):
        name = _data_name(kind)
        if name not in schemas:  # a choice of models
            schemas[name] = {"anyOf": [{"$ref": ref(model=m.__name__)} for m in EVENT_DATA[kind]]}
        schemas[_event_name(kind)] = {
            "type": "object",
            "description": f"`{kind}`: {WHEN[kind]}.",
            "required": ["event", "id", "data"],
            "properties": {
                "event": {"const": kind},
                "id": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "the event's number in the job; resume after it with "
                    "`Last-Event-ID`",
                },
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": ref(model=name)},
                },
            },
        }
    kinds = get_args(EventType)
    schemas[STREAM_ITEM] = {
        "description": "One event of a job's stream (an SSE `event:`, `id:` and `data:`).",
        "oneOf": [{"$ref": ref(model=_event_name(k))} for k in kinds],
        "discriminator": {
            "propertyName": "event",
            "mapping": {k: ref(model=_event_name(k)) for k in kinds},
        },
    }
    return schemas


def _table() -> str:
    rows = [f"| `{k}` | {WHEN[k]} | `{_data_name(k)}` |" for k in get_args(EventType)]
    return "\n".join(["| event | when | data |", "|---|---|---|", *rows])


def event_stream_response(description: str) -> dict[str, Any]:
    """A `responses=` entry for a 200 that is a job's event stream."""
    return {
        "description": f"{description}\n\n{_table()}\n\nKeep-alive comments (`: ping`) "
        "come between events.",
        "headers": {
            "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
            "X-Accel-Buffering": {
                "description": "tells a proxy (nginx) not to buffer the stream",
                "schema": {"type": "string", "const": "no"},
            },
        },
        "content": {
            "text/event-stream": {
                "schema": {"type": "string", "description": "Server-Sent Events"},
                "x-itemSchema": {"$ref": openapi.REF_TEMPLATE.format(model=STREAM_ITEM)},
                "example": EXAMPLE,
            }
        },
    }


def install(app: FastAPI) -> None:
    """Serve the gateway's document with truthful errors and the events described."""
    openapi.install(app, lambda doc: openapi.add_components(doc, event_components()))
