"""The factory's OpenAPI document: the errors each kind of route answers with (declared by
the routes), the rest of the truth about errors (`shared.openapi`), and the summary's event
stream (`shared.openapi_events`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared import openapi
from shared.events import TokenData
from shared.http_errors import RETRY_AFTER_HEADER, error_response
from shared.openapi_events import Event, EventStream
from shared.schemas import ErrorBody, SummarizeResponse

Responses = dict[int | str, dict[str, Any]]  # a route's `responses=`


def model_errors(invalid: str = "", unavailable: str = "") -> Responses:
    """What every model route may answer with; `invalid` and `unavailable` name its own 422
    and 503 codes."""
    more = f", or {invalid}" if invalid else ""
    down = f"; or {unavailable}" if unavailable else ""
    return {
        401: error_response(
            "no or a wrong `Authorization: Bearer` internal token (`unauthorized`), when the "
            "factory has one"
        ),
        413: error_response(
            "the request body is over `FACTORY_MAX_REQUEST_BYTES` (`payload_too_large`), or "
            "the text over its limit (`text_too_large`)"
        ),
        422: error_response(f"a value is not valid (`invalid_request`){more}"),
        429: error_response(
            "the model is busy: its running and waiting places are taken (`busy`)",
            retry_after=True,
        ),
        503: error_response(
            "the model is loading (`model_loading`), failed to load (`model_unavailable`), or "
            f"the server is shutting down (`shutting_down`){down}",
            retry_after=True,
        ),
    }


SUMMARY_EVENTS = EventStream(
    item="SummaryStreamEvent",
    events={
        "token": Event("the next piece of the generated text, to append", (TokenData,)),
        "done": Event(
            "the whole answer, as without `stream`; the stream ends", (SummarizeResponse,)
        ),
        "error": Event("the generation failed; the stream ends", (ErrorBody,)),
    },
    id_description="the event's number in this answer",
    example=[("token", {"text": "The council"}), ("token", {"text": " approved"})],
    headers={
        "X-Accel-Buffering": {
            "description": "tells a proxy (nginx) not to buffer the stream",
            "schema": {"type": "string", "const": "no"},
        }
    },
)


class FactoryReadiness(BaseModel):
    """`/readyz`: 200 with `ready: true`, or 503 naming each required model not ready."""

    ready: bool
    waiting_for: dict[str, str] | None = Field(
        None, description="per model (llm, ner, tts, embeddings): loading, or why it failed"
    )


NOT_READY: Responses = {
    503: {
        "model": FactoryReadiness,
        "description": "a required model is not ready",
        "headers": {"Retry-After": RETRY_AFTER_HEADER},
    }
}


def install(app: FastAPI) -> None:
    """Serve the factory's document with truthful errors and the summary's events."""
    openapi.install(app, lambda doc: openapi.add_components(doc, SUMMARY_EVENTS.components()))
