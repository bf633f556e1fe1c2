"""Real OpenAI-compatible servers on loopback for the remote-backend tests: llama-cpp-python's
own server on a GGUF, and a proxy in front of it that injects the faults real servers have."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import free_port, wait_until

MODEL_ALIAS = "SmolLM2-135M-Instruct"


@dataclass
class LlamaCppServer:
    url: str  # the API's base URL, .../v1
    proc: subprocess.Popen[bytes]


def _listening(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 401)
    except httpx.HTTPError:
        return False


@contextmanager
def llama_cpp_server(
    gguf: Path, log: Path, n_ctx: int = 2048, api_key: str | None = None
) -> Iterator[LlamaCppServer]:
    """`python -m llama_cpp.server` serving `gguf` as MODEL_ALIAS on a free loopback port.
    `--interrupt_requests False`: by default it cuts a running stream short (a `[DONE]` with
    no finish_reason) whenever another request waits."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--n_ctx", str(n_ctx), "--n_threads", "2", "--interrupt_requests", "False"]
    if api_key is not None:
        cmd += ["--api_key", api_key]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until(lambda: proc.poll() is not None or _listening(f"{base}/models"), timeout=120)
        assert proc.poll() is None, f"llama_cpp.server exited: see {log}"
        yield LlamaCppServer(base, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Faults:
    """What the proxy does to the next requests; `seen` records every request body."""

    refuse_429: int = 0  # answer this many requests 429 with Retry-After
    retry_after: str = "1"
    drop_done: bool = False  # strip `data: [DONE]` and end the stream there
    max_tokens: int | None = None  # rewrite the request's max_tokens (a server ignoring ours)
    status_for_response_format: dict[str, int] = field(default_factory=dict)  # refuse forms
    # Answer 400 to a request whose messages hold more characters, whatever its form, with
    # llama-server's body for a prompt over its context (vLLM and OpenAI answer alike).
    context_chars: int | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)
    seen_at: list[float] = field(default_factory=list)


def faulty_proxy(upstream: str, faults: Faults) -> Starlette:
    """Forwards to `upstream` (a .../v1 base URL) but for the faults asked for."""
    # Paths arrive whole (/v1/...): forward them to the server's root.
    client = httpx.AsyncClient(base_url=upstream.removesuffix("/v1"), timeout=300)

    async def forward(request: Request) -> Response:
        path = request.path_params["path"]
        raw = await request.body()
        body: dict[str, Any] = {}
        if raw:
            body = json.loads(raw)
            faults.seen.append(dict(body))  # as the factory sent it
            faults.seen_at.append(time.monotonic())
        if faults.refuse_429 > 0 and raw:
            faults.refuse_429 -= 1
            return JSONResponse(
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                429,
                headers={"Retry-After": faults.retry_after},
            )
        size = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        if faults.context_chars is not None and size > faults.context_chars:
            error = {
                "code": 400,
                "message": f"request ({size // 4} tokens) exceeds the available context size "
                f"({faults.context_chars // 4} tokens), try increasing it",
                "type": "exceed_context_size_error",
            }
            return JSONResponse({"error": error}, 400)
        form = (body.get("response_format") or {}).get("type")
        if form in faults.status_for_response_format:
            status = faults.status_for_response_format[form]
            return JSONResponse({"error": {"message": f"{form} is not supported"}}, status)
        if faults.max_tokens is not None and "max_tokens" in body:
            body["max_tokens"] = faults.max_tokens
        upstream_request = client.build_request(
            request.method, f"/{path}", json=body if raw else None
        )
        response = await client.send(upstream_request, stream=True)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            content = await response.aread()
            await response.aclose()
            kind = response.headers.get("content-type", "application/json")
            return Response(content, response.status_code, media_type=kind)

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for line in response.aiter_lines():
                    if faults.drop_done and line.strip() == "data: [DONE]":
                        return
                    yield (line + "\n").encode()
            finally:
                await response.aclose()

        return StreamingResponse(lines(), response.status_code, media_type="text/event-stream")

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
