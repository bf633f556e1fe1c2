"""llama.cpp's C++ llama-server, the second real OpenAI-compatible server of the remote-backend
tests: the fixture starts the cached build (skipped where it is not built) and it streams."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from factory import prompts
from shared.schemas import GeneratedSummary
from tests.llama_server import (  # noqa: F401
    LLAMA_SERVER_MODEL,
    cached_binary,
    find_binary,
    llama_server,
    llama_server_url,
)


def stream_chat(base_url: str, body: dict[str, object]) -> tuple[list[str], list[dict]]:
    """POST a streamed chat completion; the content pieces and every chunk, up to [DONE]."""
    pieces: list[str] = []
    chunks: list[dict] = []
    done = False
    with httpx.stream(
        "POST", f"{base_url}/chat/completions", json={**body, "stream": True}, timeout=120
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            chunks.append(chunk)
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                pieces.append(chunk["choices"][0]["delta"]["content"])
    assert done, "the stream ended without [DONE]"
    return pieces, chunks


def test_llama_server_streams_an_openai_chat_completion(
    llama_server_url: str,  # noqa: F811
    articles: dict[str, str],
) -> None:
    models = httpx.get(f"{llama_server_url}/models", timeout=10).json()
    assert LLAMA_SERVER_MODEL in [m["id"] for m in models["data"]]

    pieces, chunks = stream_chat(
        llama_server_url,
        {
            "model": LLAMA_SERVER_MODEL,
            "messages": prompts.messages("skimmer", False, articles["chips"]),
            "max_tokens": 24,
            "temperature": 0.0,
        },
    )
    assert len(pieces) > 1, "expected the answer token by token"
    assert "".join(pieces).strip()
    finish = [c["choices"][0].get("finish_reason") for c in chunks if c["choices"]]
    assert finish[-1] in ("stop", "length")


def test_llama_server_honours_a_json_schema(
    llama_server_url: str,  # noqa: F811
    articles: dict[str, str],
) -> None:
    """Structured output as the remote backend asks for it: response_format with the schema."""
    schema = json.loads(prompts.summary_schema_json())
    pieces, _ = stream_chat(
        llama_server_url,
        {
            "model": LLAMA_SERVER_MODEL,
            "messages": prompts.messages("skimmer", True, articles["chips"]),
            "max_tokens": 1024,  # the schema bounds every field: it always closes
            "temperature": 0.0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "summary", "schema": schema},
            },
        },
    )
    GeneratedSummary.model_validate_json("".join(pieces))


def test_the_binary_is_found_where_the_build_script_caches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMA_SERVER_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cached_binary().parent.name.startswith("llama-server-")
    assert find_binary() is None
    cached_binary().parent.mkdir(parents=True)
    cached_binary().write_text("#!/bin/sh\n")
    cached_binary().chmod(0o755)
    assert find_binary() == cached_binary()
    monkeypatch.setenv("LLAMA_SERVER_BIN", str(tmp_path / "elsewhere"))
    assert find_binary() is None
