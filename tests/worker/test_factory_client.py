"""The worker's factory client retries what may pass (connection refused, 429, 503) and
nothing else, against a local stand-in that answers with chosen statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.schemas import SummarizeResponse
from shared.settings import WorkerSettings
from tests.servers import free_port, serve
from tests.worker.stand_in import Script
from tests.worker.stand_in import stand_in as stand_in_factory
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


def test_a_factory_sending_only_keep_alives_fails_the_summary_at_the_idle_deadline() -> None:
    """Keep-alive comments reset the HTTP read timeout: they must not count as progress."""
    plan = Script(summary="pings", pings_for_s=15.0)
    with serve(stand_in_factory(plan)) as base:
        settings = WorkerSettings(  # type: ignore[call-arg]
            _env_file=None, factory_url=base, task_idle_timeout_s=1.0, retry_max_wait_s=0.05
        )
        with pytest.raises(FactoryError, match="no progress") as info:
            list(FactoryClient(settings).stream_summary("text", "skimmer"))
    assert not info.value.transient
    assert plan.calls == ["/summarize"]  # a stalled stream is not retried


def test_a_factory_outage_longer_than_a_few_seconds_is_ridden_out() -> None:
    """Connection refused for ~6 s (longer than 4 attempts' backoff), then the factory is up:
    the call succeeds."""
    port = free_port()
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        factory_url=f"http://127.0.0.1:{port}",
        retry_max_wait_s=1.0,
        retry_total_s=60.0,
    )
    app = stand_in_factory(Script())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    later = threading.Timer(6.0, server.run)
    later.start()
    try:
        assert FactoryClient(settings).extract("Jane met Bob.", ["Person"])
    finally:
        later.cancel()
        server.should_exit = True
        later.join(timeout=30)


def test_retries_end_at_the_total_retry_time_whatever_the_attempts() -> None:
    """20 attempts 0.1 s apart cannot fit in a 1 s budget."""
    app = stand_in(["503"])
    with serve(app) as base:
        settings = WorkerSettings(  # type: ignore[call-arg]
            _env_file=None,
            factory_url=base,
            retry_attempts=20,
            retry_max_wait_s=0.1,
            retry_total_s=1.0,
        )
        with pytest.raises(FactoryError):
            FactoryClient(settings).extract("x", ["Person"])
    assert 2 <= len(app.state.calls) < 20
