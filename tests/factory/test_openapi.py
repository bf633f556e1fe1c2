"""The factory's OpenAPI document tells the truth (issue 13 §3), as the gateway's does
(tests/gateway/test_openapi.py): each declared status is provoked for real and the response
validated against the document with openapi-core.

A factory whose models cannot load answers the refusals at once (400, 401, 413, 422, 503);
one with Edge-TTS alone behind a proxy that never answers, a busy narrator (429) and a
failed one (502); one whose LLM is a remote server (FACTORY_LLM_BACKEND=openai) that is
busy, refuses, goes silent, then is gone, the remote failures (502, 503, 504). The real
factory of tests/factory/conftest.py answers the 200s, the summary's event stream and the
busy LLM's 429 (slow: it loads the models).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from factory.app import create_app
from shared.settings import FactorySettings
from tests.openapi_contract import Contract, Operation
from tests.servers import serve, wait_until

TOKEN = "internal-t0k3n"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_AUTH = {**AUTH, "content-type": "application/json"}
MODEL_ROUTES = ["/summarize", "/extract", "/highlights", "/provenance", "/audio"]
PROSE = "Jane Okafor said the council approved the bridge. It opens in 2027. "


def contract() -> Contract:
    return Contract(create_app(FactorySettings(_env_file=None)).openapi())  # type: ignore[call-arg]


def body_for(path: str, text: str = PROSE) -> dict[str, Any]:
    """A request each model route takes (a short summary)."""
    extra: dict[str, Any] = {
        "/summarize": {"max_tokens": 16},
        "/provenance": {"key_points": ["The bridge opens in 2027."]},
    }.get(path, {})
    return {"text": text, **extra}


@pytest.fixture(scope="module")
def silent_proxy() -> Iterator[str]:
    """A proxy that takes connections and never answers: Edge-TTS waits out its timeout."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


@dataclass
class Running:
    client: httpx.Client
    doc: dict[str, Any]


@contextmanager
def running(**overrides: Any) -> Iterator[Running]:
    """A factory with an internal token whose models cannot load (what `overrides` say)."""
    values: dict[str, Any] = {
        "internal_token": TOKEN,
        "llm_model_path": "/nonexistent/model.gguf",
        "gliner_model": "/nonexistent/gliner",
        "embedding_model": "/nonexistent/minilm",
        "tts_engines": ["piper"],
        "piper_model_path": "/nonexistent/voice.onnx",
        "max_request_bytes": 20_000,
        "max_text_bytes": 10_000,
        "max_audio_text_bytes": 5_000,
        **overrides,
    }
    settings = FactorySettings(_env_file=None, **values)  # type: ignore[call-arg]
    app = create_app(settings)
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Running(client, app.openapi())


@pytest.fixture(scope="module")
def unready() -> Iterator[Running]:
    with running() as factory:
        yield factory


@pytest.fixture(scope="module")
def edge_only(silent_proxy: str) -> Iterator[Running]:
    """Edge-TTS alone (it has no model to load), through a proxy that never answers."""
    with running(
        tts_engines=["edge"], edge_tts_proxy=silent_proxy, edge_tts_timeout_s=3, tts_max_waiting=0
    ) as factory:
        yield factory


# --- the document ------------------------------------------------------------------


def test_the_document_is_valid_and_every_error_is_an_error_body() -> None:
    doc = contract().doc  # openapi-core validated it as OpenAPI 3.1
    assert "HTTPValidationError" not in json.dumps(doc)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or (path, status) == ("/readyz", "503"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
                if status in ("429", "503"):
                    assert response["headers"]["Retry-After"]["required"], (method, path)
    stream = doc["paths"]["/summarize"]["post"]["responses"]["200"]["content"]
    assert set(stream) == {"application/json", "text/event-stream"}


# --- real responses: refusals ------------------------------------------------------

REFUSALS: set[Operation] = {
    *{("POST", path, status) for path in MODEL_ROUTES for status in (400, 401, 413, 422, 503)},
    ("GET", "/readyz", 503),
    ("GET", "/health", 200),
    ("GET", "/healthz", 200),
    ("GET", "/voices", 200),
}


def test_refusals_answer_as_documented(unready: Running) -> None:
    found = Contract(unready.doc)
    c, check = unready.client, found.check
    for path in MODEL_ROUTES:
        assert check(c.post(path, json=body_for(path))).status_code == 401, path
        too_big = check(c.post(path, content=b"x" * 30_000, headers=AUTH))
        assert too_big.json()["error"] == "payload_too_large", path
        long = check(c.post(path, json=body_for(path, "word " * 2_500), headers=AUTH))
        assert long.status_code == 413 and long.json()["error"] == "text_too_large", path
        unreadable = check(c.post(path, content=b'{"text": "\xff"}', headers=JSON_AUTH))
        assert unreadable.status_code == 400, path
        bad = check(c.post(path, json={"text": 5}, headers=AUTH))
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "text", path
    for path, body, code in [
        ("/highlights", {"text": "\x01\x02 %%%% ####"}, "not_text"),
        ("/provenance", {"text": PROSE, "key_points": ["..."]}, "no_claims"),
        ("/audio", {"text": PROSE, "voice": "xx-Nobody"}, "unknown_voice"),
    ]:
        assert check(c.post(path, json=body, headers=AUTH)).json()["error"] == code
    for path in MODEL_ROUTES:  # no model loads here
        r = check(c.post(path, json=body_for(path), headers=AUTH))
        assert r.status_code == 503 and r.json()["error"] in ("model_loading", "model_unavailable")
    ready = check(c.get("/readyz"))
    assert ready.status_code == 503 and ready.json()["ready"] is False
    for path in ("/health", "/healthz", "/voices"):
        assert check(c.get(path)).status_code == 200

    assert found.seen >= REFUSALS


NARRATOR: set[Operation] = {("POST", "/audio", 429), ("POST", "/audio", 502)}


def test_a_busy_or_failing_narrator_answers_as_documented(edge_only: Running) -> None:
    found = Contract(edge_only.doc)
    c, check = edge_only.client, found.check
    wait_until(lambda: c.get("/health").json()["models"]["tts"]["state"] == "ready", 60)
    narrated: dict[str, httpx.Response] = {}

    def narrate() -> None:  # holds the narrator until Edge-TTS gives up
        with httpx.Client(base_url=str(c.base_url), timeout=30) as other:
            narrated["r"] = other.post("/audio", json=body_for("/audio"), headers=AUTH)

    holder = threading.Thread(target=narrate)
    holder.start()

    def admitted() -> int:
        gate = c.get("/health").json()["gates"]["tts"]
        return int(gate["active"] + gate["waiting"])

    wait_until(lambda: admitted() == 1, 10)
    busy = check(c.post("/audio", json=body_for("/audio"), headers=AUTH))
    assert busy.status_code == 429 and busy.json()["error"] == "busy"
    holder.join(timeout=30)
    failed = check(narrated["r"])
    assert failed.status_code == 502 and failed.json()["error"] == "tts_failed"
    assert found.seen == NARRATOR


REMOTE: set[Operation] = {
    ("POST", "/summarize", 502),
    ("POST", "/summarize", 503),
    ("POST", "/summarize", 504),
}


def remote_llm(mode: dict[str, str]) -> Starlette:
    """An OpenAI-compatible server that lists a model, then fails each chat completion as
    `mode["chat"]` says: `busy` (429), `refused` (401) or `silent` (no answer)."""

    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "remote", "object": "model"}]})

    async def chat(_: Request) -> Response:
        if mode["chat"] == "busy":
            return JSONResponse({"error": {"message": "slow down"}}, 429, {"Retry-After": "1"})
        if mode["chat"] == "refused":
            return JSONResponse({"error": {"message": "bad key"}}, 401)
        await asyncio.sleep(3)  # past the factory's read timeout
        return Response(status_code=500)

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


def test_a_failing_remote_llm_answers_as_documented() -> None:
    """FACTORY_LLM_BACKEND=openai: a server that is busy, refuses, goes silent, then is gone."""
    mode = {"chat": "busy"}
    server = ExitStack()
    remote = server.enter_context(serve(remote_llm(mode)))
    try:
        factory_settings = {
            "llm_backend": "openai",
            "llm_remote_url": f"{remote}/v1",
            "llm_remote_retry_total_s": 1,
            "llm_remote_retry_max_wait_s": 0.5,
            "llm_remote_read_timeout_s": 1,
            "llm_remote_connect_timeout_s": 1,
        }
        with running(**factory_settings) as factory:
            found = Contract(factory.doc)
            c, check = factory.client, found.check
            wait_until(lambda: c.get("/health").json()["models"]["llm"]["state"] == "ready", 60)
            for chat, status, code in [
                ("busy", 503, "remote_llm_busy"),
                ("refused", 502, "remote_llm_refused"),
                ("silent", 504, "remote_llm_timeout"),
                ("gone", 503, "remote_llm_unreachable"),
            ]:
                mode["chat"] = chat
                if chat == "gone":
                    server.close()
                r = check(c.post("/summarize", json=body_for("/summarize"), headers=AUTH))
                assert (r.status_code, r.json()["error"]) == (status, code), r.text
    finally:
        server.close()
    assert found.seen == REMOTE


# --- real responses: the real models (slow) ----------------------------------------

SERVED: set[Operation] = {
    *{("POST", path, 200) for path in MODEL_ROUTES},
    ("POST", "/summarize", 429),
    ("GET", "/readyz", 200),
}


def test_the_real_models_answer_as_documented(client: httpx.Client) -> None:
    found = contract()
    check = found.check
    for path in MODEL_ROUTES:
        r = check(client.post(path, json=body_for(path)))
        assert r.status_code == 200, (path, r.text)
    streamed = check(client.post("/summarize", json={**body_for("/summarize"), "stream": True}))
    kinds = [kind for kind, _ in found.events(streamed)]
    assert kinds[-1] == "done" and set(kinds) == {"token", "done"}
    assert check(client.get("/readyz")).json() == {"ready": True}

    # Busy: one generation runs, one waits (llm_max_waiting=1), the next is refused.
    waited: dict[str, int] = {}

    def wait_behind() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=300) as c:
            waited["status"] = c.post(
                "/summarize", json={"text": PROSE, "max_tokens": 8}
            ).status_code

    body = {"text": PROSE, "max_tokens": 256, "stream": True}
    with connect_sse(client, "POST", "/summarize", json=body) as first:
        events = first.iter_sse()
        assert next(events).event == "token"  # the first request holds the model
        waiter = threading.Thread(target=wait_behind)
        waiter.start()
        waiting = lambda: client.get("/health").json()["gates"]["llm"]["waiting"]  # noqa: E731
        wait_until(lambda: waiting() == 1, timeout=30)
        refused = check(client.post("/summarize", json={"text": PROSE, "max_tokens": 8}))
        assert refused.status_code == 429 and refused.json()["error"] == "busy"
        for _ in events:
            pass
    waiter.join(timeout=300)
    assert waited["status"] == 200
    assert found.seen >= SERVED


# Declared, and answered by the same code as a provoked one, but not provoked here:
NOT_PROVOKED: dict[Operation, str] = {
    ("POST", "/extract", 429): "the gate of /summarize and /audio (provoked) is the same code",
    ("POST", "/highlights", 429): "as above",
    ("POST", "/provenance", 429): "as above",
}


def test_the_scenarios_provoke_every_declared_response() -> None:
    declared = {op for op in contract().declared() if op[2] != 500}
    assert declared == REFUSALS | NARRATOR | REMOTE | SERVED | set(NOT_PROVOKED)
