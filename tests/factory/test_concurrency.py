"""One generation per model object, a bounded queue, 429 beyond it; disconnects free the model."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.servers import wait_until


def _gate(client: httpx.Client) -> dict[str, Any]:
    return client.get("/health").json()["gates"]["llm"]  # type: ignore[no-any-return]


def _idle(client: httpx.Client) -> bool:
    gate = _gate(client)
    return gate["active"] == 0 and gate["waiting"] == 0


def test_two_requests_are_serialised_and_the_third_is_refused(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    wait_until(lambda: _idle(client))
    served_before = _gate(client)["served"]
    body = {"text": articles["chips"], "structured": True, "stream": True}
    second: dict[str, Any] = {}

    def run_second() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=300) as c:
            r = c.post("/summarize", json={"text": articles["bridge"], "max_tokens": 40})
            second["status"] = r.status_code
            second["body"] = r.json()

    with connect_sse(client, "POST", "/summarize", json=body) as first:
        events = first.iter_sse()
        assert next(events).event == "token"  # the first request now holds the model
        waiter = threading.Thread(target=run_second)
        waiter.start()
        wait_until(lambda: _gate(client)["waiting"] == 1, timeout=30)

        refused = client.post("/summarize", json={"text": "One more.", "max_tokens": 8})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"] == "busy"

        rest = [e for e in events]
        first_done = json.loads(rest[-1].data)
        assert rest[-1].event == "done"
    waiter.join(timeout=300)

    assert second["status"] == 200, second
    # The second was admitted after the first's first token and waited for the rest of it:
    # never two generations at once on one model.
    timings = first_done["timings"]
    rest_of_first = timings["generation_ms"] - timings["time_to_first_token_ms"]
    assert second["body"]["timings"]["queue_ms"] >= 0.9 * rest_of_first
    gate = _gate(client)
    assert gate["peak_active"] == 1
    assert gate["served"] == served_before + 2
    assert gate["refused"] >= 1


def _cancelled(client: httpx.Client) -> int:
    return client.get("/health").json()["generations_cancelled"]  # type: ignore[no-any-return]


def test_a_streaming_client_that_leaves_stops_its_generation(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    wait_until(lambda: _idle(client))
    before = _cancelled(client)
    body = {"text": articles["sleep"], "structured": True, "stream": True, "temperature": 0.9}
    with connect_sse(client, "POST", "/summarize", json=body) as source:
        events = source.iter_sse()
        for _ in range(3):
            assert next(events).event == "token"
    # The connection is closed here, long before a ~150-token JSON could be finished.
    wait_until(lambda: _cancelled(client) == before + 1, timeout=30)
    wait_until(lambda: _idle(client), timeout=30)


def test_a_waiting_client_that_leaves_stops_its_generation(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    wait_until(lambda: _idle(client))
    before = _cancelled(client)
    body = {"text": articles["bridge"], "structured": True, "temperature": 0.9}
    with pytest.raises(httpx.ReadTimeout):
        client.post("/summarize", json=body, timeout=httpx.Timeout(120, read=0.8))
    wait_until(lambda: _cancelled(client) == before + 1, timeout=30)
    wait_until(lambda: _idle(client), timeout=30)
    after = client.post("/summarize", json={"text": articles["bridge"], "max_tokens": 16})
    assert after.status_code == 200
