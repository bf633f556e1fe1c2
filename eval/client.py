"""The eval's calls to a factory over HTTP: highlights, a streamed structured summary per arm,
provenance of that summary. Failures come back as words for the report, never as a crash."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from httpx_sse import connect_sse

from eval.records import Arm, ArmResult
from shared.sse import dispatched

STYLE = "skimmer"
TIMEOUT_S = 900.0  # one summary of a long article with an 8B model on 2 cores takes minutes
_BUDGET_FIELDS = ("input_budget_tokens", "input_selection")


class FactoryError(Exception):
    """A factory call that failed, with the reason worded for the report."""


def reason(exc: BaseException) -> str:
    """A failure in a few words: the factory down, a timeout, or its own error code."""
    if isinstance(exc, httpx.ConnectError):
        return f"factory unreachable ({exc or 'connection refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc) or type(exc).__name__


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"HTTP {response.status_code} {body.get('error')}: {body.get('detail')}"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


class FactoryClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = TIMEOUT_S):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def health(self) -> dict[str, Any]:
        r = self.http.get("/health")
        if r.status_code != 200:
            raise FactoryError(_error_text(r))
        return dict(r.json())

    def model(self) -> str:
        """The LLM's name as the factory reports it."""
        return str(self.health()["models"]["llm"]["name"])

    def supports_budget(self) -> bool | None:
        """Whether /summarize takes an input budget (None: the factory did not say)."""
        try:
            r = self.http.get("/openapi.json")
            schema = r.json()["components"]["schemas"]["SummarizeRequest"]["properties"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return all(f in schema for f in _BUDGET_FIELDS)

    def highlights(self, text: str) -> float:
        """Milliseconds from just before `POST /highlights` to its answer."""
        started = time.perf_counter()
        r = self.http.post("/highlights", json={"text": text})
        elapsed = (time.perf_counter() - started) * 1000
        if r.status_code != 200:
            raise FactoryError(_error_text(r))
        return elapsed

    def reset_cache(self, budgets: bool) -> None:
        """A one-token summary of another text, so the next arm reuses only the instruction
        prefix of the KV cache (as a new article does), not the previous arm's article."""
        body: dict[str, Any] = {"text": "Reset.", "style": STYLE, "structured": True}
        body |= {"stream": True, "max_tokens": 1, "temperature": 0.0}
        if budgets:
            body["input_budget_tokens"] = 0
        with self.http.stream("POST", "/summarize", json=body) as r:
            r.read()

    def summarize(self, text: str, arm: Arm, budget: int | None, budgets: bool | None) -> ArmResult:
        """One streamed structured summary, greedy; timed at the client."""
        result = ArmResult(arm=arm.name, status="failed", budget_tokens=budget)
        body: dict[str, Any] = {"text": text, "style": STYLE, "structured": True}
        body |= {"stream": True, "temperature": 0.0}
        if budget is not None:
            body |= {"input_budget_tokens": budget, "input_selection": arm.selection}
        elif budgets is not False:
            body["input_budget_tokens"] = 0  # off, whatever the server's default
        started = time.perf_counter()
        first: float | None = None
        with connect_sse(self.http, "POST", "/summarize", json=body) as source:
            r = source.response
            if r.status_code != 200:
                r.read()
                detail = _error_text(r)
                sent = [f for f in _BUDGET_FIELDS if f in body]
                if r.status_code == 422 and any(f in r.text for f in sent):
                    if budget is None:  # an older factory: the whole article is its only way
                        return self.summarize(text, arm, None, False)
                    result.status = "unavailable"
                    result.reason = f"the factory takes no input budget ({detail})"
                else:
                    result.reason = detail
                return result
            for sse in dispatched(source.iter_sse()):
                now = (time.perf_counter() - started) * 1000
                if sse.event == "token" and first is None:
                    first = now
                elif sse.event in ("done", "error"):
                    result.ttft_ms, result.done_ms = first, now
                    payload = json.loads(sse.data)
                    if sse.event == "done":
                        _fill(result, payload)
                    elif payload.get("error") == "unparseable_output":
                        result.status = "invalid_json"
                        result.reason = payload.get("detail")
                    else:
                        result.reason = f"{payload.get('error')}: {payload.get('detail')}"
                    return result
        result.reason = "the stream ended without a done or error event"
        return result

    def provenance(self, text: str, main_summary: str, key_points: list[str]) -> tuple[int, int]:
        """(claims, claims flagged unsupported) of a summary against its article."""
        body = {"text": text, "main_summary": main_summary, "key_points": key_points}
        r = self.http.post("/provenance", json=body)
        if r.status_code != 200:
            raise FactoryError(_error_text(r))
        found = r.json()
        return len(found["claims"]), int(found["unsupported"])


def _fill(result: ArmResult, done: dict[str, Any]) -> None:
    """The arm's figures from the `done` event (the full SummarizeResponse)."""
    timings = done.get("timings") or {}
    structured = done.get("structured")
    result.status = "ok" if structured else "invalid_json"
    if not structured:
        result.reason = f"no structured summary (finish_reason={done.get('finish_reason')})"
    result.applied = done.get("input_selection")
    result.article_tokens = done.get("article_tokens", done.get("input_tokens"))
    result.input_tokens = done.get("input_tokens")
    result.prompt_tokens = done.get("prompt_tokens")
    result.output_tokens = done.get("output_tokens")
    result.selected_sentences = done.get("selected_sentences")
    result.dropped_sentences = done.get("dropped_sentences")
    result.finish_reason = done.get("finish_reason")
    result.server_ttft_ms = timings.get("time_to_first_token_ms")
    result.input_ms = timings.get("input_ms")
    if structured:
        result.title = structured.get("title")
        result.main_summary = structured.get("main_summary")
        result.key_points = list(structured.get("key_points") or [])
