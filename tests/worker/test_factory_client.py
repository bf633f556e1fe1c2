"""The worker's factory client retries what may pass (connection refused, 429, 503) and
nothing else, against a local stand-in that answers with chosen statuses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.schemas import SummarizeResponse
from shared.settings import WorkerSettings
from tests.servers import free_port, serve
from worker.factory_client import FactoryClient, FactoryError

DONE = {
    "summary": "s",
    "structured": None,
    "raw": "ab",
    "style": "skimmer",
    "model": "m",
    "inference_time_ms": 1.0,
    "input_tokens": 1,
    "prompt_tokens": 2,
    "output_tokens": 2,
    "truncated": False,
    "max_tokens": 8,
    "finish_reason": "stop",
    "timings": {
        "queue_ms": 0,
        "time_to_first_token_ms": 1,
        "generation_ms": 2,
        "tokens_per_second": 1,
    },
}


def stand_in(script: list[str]) -> Starlette:
    """Answers each request with the next entry of `script`: a status code, `stream` (two
    tokens then done), `pinged` (the same, numbered, with keep-alive comments between, as
    sse-starlette sends during a slow generation) or `broken` (a token then an error)."""
    calls: list[str] = []

    async def handle(request: Request) -> Response:
        step = script[min(len(calls), len(script) - 1)]
        calls.append(request.url.path)
        if step.isdigit() and step != "200":
            body = {"error": "busy", "detail": "try later"}
            return JSONResponse(body, int(step), headers={"Retry-After": "0"})
        if request.url.path == "/extract":
            return JSONResponse({"entities": [], "model": "m", "engine": "e"})
        events = [("token", {"text": "a"})]
        events += (
            [("error", {"detail": "boom"})]
            if step == "broken"
            else [("token", {"text": "b"}), ("done", DONE)]
        )
        if step == "pinged":
            ping = ": ping - 2026-11-21 22:44:41\r\n\r\n"
            text = ping + "".join(
                f"event: {e}\r\nid: {i}\r\ndata: {json.dumps(d)}\r\n\r\n{ping}"
                for i, (e, d) in enumerate(events, 1)
            )
        else:
            text = "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events)
        return Response(text, media_type="text/event-stream")

    app = Starlette(routes=[Route("/{path}", handle, methods=["POST"])])
    app.state.calls = calls
    return app


Make = Callable[[list[str]], tuple[FactoryClient, list[str]]]


@pytest.fixture
def client_for() -> Iterator[Make]:
    with ExitStack() as stack:

        def make(script: list[str]) -> tuple[FactoryClient, list[str]]:
            app = stand_in(script)
            base = stack.enter_context(serve(app))
            settings = WorkerSettings(  # type: ignore[call-arg]
                _env_file=None, factory_url=base, retry_attempts=3, retry_max_wait_s=0.05
            )
            return FactoryClient(settings), app.state.calls

        yield make


def test_503_and_429_are_retried_until_they_pass(client_for: Make) -> None:
    client, calls = client_for(["503", "429", "200"])
    assert client.extract("Jane met Bob.", ["Person"]) == []
    assert len(calls) == 3


def test_other_refusals_are_not_retried(client_for: Make) -> None:
    client, calls = client_for(["422"])
    with pytest.raises(FactoryError) as info:
        client.extract("x", ["Person"])
    assert not info.value.transient and "422" in str(info.value)
    assert len(calls) == 1


def test_retries_give_up_after_the_configured_attempts(client_for: Make) -> None:
    client, calls = client_for(["503"])
    with pytest.raises(FactoryError):
        client.extract("x", ["Person"])
    assert len(calls) == 3


def test_connection_refused_is_retried_then_raised() -> None:
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        factory_url=f"http://127.0.0.1:{free_port()}",
        retry_attempts=2,
        retry_max_wait_s=0.05,
    )
    with pytest.raises(httpx.ConnectError):
        FactoryClient(settings).extract("x", ["Person"])


def test_a_summary_stream_is_retried_only_before_its_first_token(client_for: Make) -> None:
    client, calls = client_for(["503", "stream"])
    items = list(client.stream_summary("text", "skimmer"))
    assert items[:2] == ["a", "b"] and isinstance(items[2], SummarizeResponse)
    assert len(calls) == 2

    client, calls = client_for(["pinged"])
    items = list(client.stream_summary("text", "skimmer"))  # pings are not events
    assert items[:2] == ["a", "b"] and isinstance(items[2], SummarizeResponse)

    client, calls = client_for(["broken", "stream"])
    pieces = []
    with pytest.raises(FactoryError, match="boom"):
        for item in client.stream_summary("text", "skimmer"):
            pieces.append(item)
    assert pieces == ["a"] and len(calls) == 1  # tokens went out: no retry, no repeats
