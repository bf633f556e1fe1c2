"""Read the factory's SSE summary stream."""

from __future__ import annotations

import json
from typing import Any

import httpx
from httpx_sse import connect_sse

from shared.sse import dispatched


def stream_summary(client: httpx.Client, body: dict[str, Any]) -> tuple[list[str], str, Any]:
    """POST a streaming summary; return (token texts, final event name, final event data)."""
    tokens: list[str] = []
    with connect_sse(client, "POST", "/summarize", json={**body, "stream": True}) as source:
        assert source.response.status_code == 200, source.response.read()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in dispatched(source.iter_sse()):
            data = json.loads(event.data)
            if event.event == "token":
                assert int(event.id) == len(tokens) + 1
                tokens.append(data["text"])
            else:
                return tokens, event.event, data
    raise AssertionError("stream ended without a done or error event")
