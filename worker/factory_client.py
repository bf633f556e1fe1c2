"""The worker's HTTP client for the factory, retrying what is worth retrying."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from shared.schemas import (
    Entity,
    HighlightsResponse,
    ProvenanceResponse,
    StructuredSummary,
    SummarizeResponse,
)
from shared.settings import WorkerSettings

TRANSIENT_STATUS = {429, 502, 503, 504}


class FactoryError(Exception):
    """The factory refused or failed; `transient` says whether trying again may help."""

    def __init__(self, detail: str, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.transient = transient
        self.retry_after = retry_after


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
    try:
        body = response.json()
        detail = f"{body.get('error')}: {body.get('detail')}"
    except ValueError:
        detail = response.text[:200]
    retry_after = response.headers.get("retry-after")
    raise FactoryError(
        f"factory answered {response.status_code} ({detail})",
        transient=response.status_code in TRANSIENT_STATUS,
        retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
    )


@dataclass
class _Event:
    event: str
    data: str


def _events(response: httpx.Response, idle_s: float) -> Iterator[_Event]:
    """The events of an SSE response, as a browser dispatches them. No event for `idle_s`
    raises: keep-alive comments (`: ping`) are not progress."""
    deadline = time.monotonic() + idle_s
    kind, data = "", []  # type: str, list[str]
    for line in response.iter_lines():
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield _Event(kind or "message", "\n".join(data))
                deadline = time.monotonic() + idle_s
            kind, data = "", []
            continue
        if time.monotonic() > deadline:
            raise FactoryError(
                f"no progress from the factory for {idle_s:g} s (only keep-alives)",
                transient=False,
            )
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, FactoryError):
        return exc.transient
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


class FactoryClient:
    def __init__(self, settings: WorkerSettings) -> None:
        headers = {}
        if settings.factory_token is not None:
            headers["Authorization"] = f"Bearer {settings.factory_token.get_secret_value()}"
        # No byte for the idle deadline is no progress either (a streamed summary's
        # keep-alives are caught in _events).
        read_s = min(settings.factory_read_timeout_s, settings.task_idle_timeout_s)
        timeout = httpx.Timeout(read_s, connect=settings.factory_connect_timeout_s)
        # Loading the CA bundle costs ~90 ms, paid by every job (each runs in a fresh fork):
        # only an https factory needs it.
        https = settings.factory_url.startswith("https://")
        self.http = httpx.Client(
            base_url=settings.factory_url, headers=headers, timeout=timeout, verify=https
        )
        self.settings = settings

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential(multiplier=0.5, max=self.settings.retry_max_wait_s)(state)
        exc = state.outcome.exception() if state.outcome else None
        hint = exc.retry_after if isinstance(exc, FactoryError) else None
        return min(max(backoff, hint or 0.0), self.settings.retry_max_wait_s)

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(_transient),
            stop=(
                stop_after_attempt(self.settings.retry_attempts)
                | stop_after_delay(self.settings.retry_total_s)
            ),
            wait=self._wait,
            reraise=True,
        )

    def _open_summary(self, body: dict[str, Any]) -> tuple[ExitStack, Iterator[_Event]]:
        """Open the stream and read its first event (so refusals surface here, retryable)."""
        with ExitStack() as stack:
            response = stack.enter_context(self.http.stream("POST", "/summarize", json=body))
            _raise_for(response)
            events = _events(response, self.settings.task_idle_timeout_s)
            first = next(events, None)
            rest = itertools.chain([first] if first is not None else [], events)
            return stack.pop_all(), rest
        raise AssertionError("unreachable")

    def stream_summary(self, text: str, style: str) -> Iterator[str | SummarizeResponse]:
        """Raw pieces as generated, then the final response. Retried only before the first
        piece: once tokens went out, a retry would repeat them."""
        body = {"text": text, "style": style, "structured": True, "stream": True}
        for attempt in self._retrying():
            with attempt:
                stack, events = self._open_summary(body)
        with stack:
            for event in events:
                data = json.loads(event.data)
                if event.event == "token":
                    yield data["text"]
                elif event.event == "done":
                    yield SummarizeResponse.model_validate(data)
                    return
                elif event.event == "error":
                    raise FactoryError(f"summary failed: {data.get('detail')}", transient=False)
            raise FactoryError("the summary stream ended early", transient=False)

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        for attempt in self._retrying():
            with attempt:
                response = self.http.post(path, json=body)
                _raise_for(response)
                return response
        raise AssertionError("unreachable")

    def highlights(self, text: str, k: int) -> HighlightsResponse:
        data = self._post("/highlights", {"text": text, "k": k}).json()
        return HighlightsResponse.model_validate(data)

    def provenance(self, text: str, summary: StructuredSummary) -> ProvenanceResponse:
        body: dict[str, Any] = {"text": text, "main_summary": summary.main_summary}
        body["key_points"] = summary.key_points
        return ProvenanceResponse.model_validate(self._post("/provenance", body).json())

    def extract(self, text: str, labels: list[str]) -> list[Entity]:
        data = self._post("/extract", {"text": text, "labels": labels}).json()
        return [Entity.model_validate(e) for e in data["entities"]]

    def audio(self, text: str, voice: str | None) -> tuple[bytes, str]:
        body: dict[str, Any] = {"text": text}
        if voice:
            body["voice"] = voice
        response = self._post("/audio", body)
        return response.content, response.headers.get("x-tts-engine", "unknown")

    def close(self) -> None:
        self.http.close()
