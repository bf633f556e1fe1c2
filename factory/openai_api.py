"""A client for OpenAI-compatible chat-completions servers (vLLM, TGI, llama-server, Ollama,
llama-cpp-python's server, hosted APIs): retries, timeouts, errors in the factory's shape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from httpx_sse import EventSource
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential,
)

from shared.http_errors import ApiError
from shared.settings import FactorySettings

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_DETAIL_CHARS = 300


class Cancelled(Exception):
    """The request was cancelled (the client left) before the server answered."""


class RemoteStatusError(Exception):
    """The server answered with an error status; `transient` ones are worth retrying."""

    def __init__(self, status: int, detail: str, retry_after: float | None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def _format_error(self) -> bool:
        """A 5xx naming response_format: llama-cpp-python's server reports its request
        validation errors so; repeating the request cannot help."""
        return self.status >= 500 and "response_format" in self.detail

    @property
    def refuses_response_format(self) -> bool:
        """The request's response_format was refused: 400 or 422 from most servers."""
        return self.status in (400, 422) or self._format_error

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUS and not self._format_error


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_detail(response: httpx.Response) -> str:
    """The server's own message (`{"error": {"message": ...}}` and its variants), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_DETAIL_CHARS] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return str(err)[:_DETAIL_CHARS]
    return str(body)[:_DETAIL_CHARS]


def raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
    raise RemoteStatusError(
        response.status_code,
        _error_detail(response),
        retry_after_seconds(response.headers.get("retry-after")),
    )


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, RemoteStatusError):
        return exc.transient
    # A refused or timed-out connect: nothing reached the server, always safe to repeat.
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.RemoteProtocolError)


@dataclass
class Stream:
    """An open chat-completions event stream; close it when done."""

    events: Iterator[dict[str, Any] | None]  # None stands for `[DONE]`
    close: Callable[[], None]


class OpenAIClient:
    """One HTTP connection pool to one server."""

    def __init__(self, settings: FactorySettings) -> None:
        assert settings.llm_remote_url is not None
        self.url = settings.llm_remote_url
        self.settings = settings
        headers = {"Accept": "application/json"}
        if settings.llm_remote_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.llm_remote_api_key.get_secret_value()}"
        timeout = httpx.Timeout(
            settings.llm_remote_read_timeout_s, connect=settings.llm_remote_connect_timeout_s
        )
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _retrying(self, stop: threading.Event) -> Retrying:
        total = self.settings.llm_remote_retry_total_s

        def hint(state: RetryCallState) -> float | None:
            exc = state.outcome.exception() if state.outcome else None
            return exc.retry_after if isinstance(exc, RemoteStatusError) else None

        def wait(state: RetryCallState) -> float:
            backoff = wait_exponential(
                multiplier=0.5, max=self.settings.llm_remote_retry_max_wait_s
            )
            asked = hint(state)
            # The server's Retry-After is honoured even past our cap; the total still bounds it.
            return max(backoff(state), asked) if asked is not None else backoff(state)

        def give_up(state: RetryCallState) -> bool:
            elapsed = state.seconds_since_start or 0.0
            return stop.is_set() or elapsed + (hint(state) or 0.0) > total

        def sleep(seconds: float) -> None:
            stop.wait(seconds)  # a cancelled request stops waiting at once

        return Retrying(
            retry=retry_if_exception(_transient),
            stop=give_up,
            wait=wait,
            sleep=sleep,
            reraise=True,
        )

    def models(self, timeout: float | None = None) -> list[str]:
        """The ids of the models the server lists (GET /models), without retrying."""
        try:
            response = self.http.get("/models", timeout=timeout or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise as_api_error(exc, "") from exc
        raise_for_status(response)
        try:
            data = response.json()["data"]
            return [str(entry["id"]) for entry in data]
        except (ValueError, KeyError, TypeError):
            kind = response.headers.get("content-type", "no content type")
            raise ApiError(
                502,
                "remote_llm_failed",
                f"{self.url}/models answered {kind}, not an OpenAI model list: is "
                "FACTORY_LLM_REMOTE_URL the API's base URL (e.g. http://host:8080/v1)?",
            ) from None

    def stream_chat(self, body: dict[str, Any], stop: threading.Event) -> Stream:
        """POST /chat/completions with `stream: true`, retried until the response opens."""
        for attempt in self._retrying(stop):
            with attempt:
                if stop.is_set():
                    raise Cancelled()
                return self._open(body)
        raise AssertionError("unreachable: tenacity reraises")

    def _open(self, body: dict[str, Any]) -> Stream:
        with ExitStack() as stack:
            response = stack.enter_context(
                self.http.stream("POST", "/chat/completions", json={**body, "stream": True})
            )
            raise_for_status(response)
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                response.read()
                raise ApiError(
                    502,
                    "remote_llm_failed",
                    f"the remote server answered a streamed request with {kind or 'no type'}, "
                    f"not an event stream: {response.text.strip()[:_DETAIL_CHARS]!r}",
                )
            events = _chunks(EventSource(response))
            closer = stack.pop_all()
            return Stream(events, closer.close)
        raise AssertionError("unreachable")

    def chat(self, body: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
        """POST /chat/completions without streaming; the parsed response."""
        for attempt in self._retrying(stop):
            with attempt:
                if stop.is_set():
                    raise Cancelled()
                response = self.http.post("/chat/completions", json={**body, "stream": False})
                raise_for_status(response)
                try:
                    parsed: dict[str, Any] = response.json()
                except ValueError:
                    raise ApiError(
                        502,
                        "remote_llm_failed",
                        f"the remote server's answer is not JSON: {response.text[:200]!r}",
                    ) from None
                return parsed
        raise AssertionError("unreachable: tenacity reraises")


def _chunks(source: EventSource) -> Iterator[dict[str, Any] | None]:
    for sse in source.iter_sse():
        data = sse.data.strip()
        if not data:
            continue
        if data == "[DONE]":
            yield None
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ApiError(
                502,
                "remote_llm_failed",
                f"the remote server sent an event that is not JSON: {data[:200]!r}",
            ) from None
        if not isinstance(chunk, dict):
            raise ApiError(502, "remote_llm_failed", f"unexpected event from the server: {data!r}")
        if chunk.get("error"):  # vLLM and llama-server report a failure inside the stream
            err = chunk["error"]
            message = err.get("message", err) if isinstance(err, dict) else err
            raise ApiError(
                502, "remote_llm_failed", f"the remote server failed mid-stream: {message}"
            )
        yield chunk


def as_api_error(exc: BaseException, model: str) -> ApiError:
    """A remote failure in the factory's error shape (what the job's reason will say)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RemoteStatusError):
        status, detail = exc.status, exc.detail
        if status == 429:
            wait = round(exc.retry_after) if exc.retry_after else None
            return ApiError(
                503,
                "remote_llm_busy",
                f"the remote LLM server is rate limiting (429) after retries: {detail}",
                retry_after=max(1, wait or 1),
            )
        if status in (401, 403):
            return ApiError(
                502,
                "remote_llm_refused",
                f"the remote LLM server refused the credentials ({status}): check "
                f"FACTORY_LLM_REMOTE_API_KEY ({detail})",
            )
        if status == 404 and model:
            return ApiError(
                502,
                "remote_llm_failed",
                f"the remote LLM server answered 404 (unknown model {model!r}, or a wrong "
                f"FACTORY_LLM_REMOTE_URL?): {detail}",
            )
        return ApiError(
            502, "remote_llm_failed", f"the remote LLM server answered {status}: {detail}"
        )
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ApiError(
            503,
            "remote_llm_unreachable",
            f"cannot connect to the remote LLM server ({type(exc).__name__})",
            retry_after=5,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(
            504, "remote_llm_timeout", f"the remote LLM server went silent ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.HTTPError):
        return ApiError(
            502,
            "remote_llm_failed",
            f"the connection to the remote LLM server broke ({type(exc).__name__})",
        )
    return ApiError(502, "remote_llm_failed", f"the remote LLM call failed ({type(exc).__name__})")
