"""A thin synchronous client of the gateway's public API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

from shared.sse import dispatched


class GatewayError(Exception):
    """The gateway refused or could not be reached; the message is one line for the user."""


@dataclass(frozen=True)
class Event:
    type: str
    seq: int
    data: dict[str, Any]


def _explain(response: httpx.Response) -> str:
    """The gateway's JSON error (`{error, detail, fields?}`) as one line."""
    try:
        body = response.json()
    except ValueError:
        return f"gateway answered {response.status_code}: {response.text[:200].strip()}"
    if not isinstance(body, dict):
        return f"gateway answered {response.status_code}"
    # `detail` already names each invalid field.
    line = f"{body.get('error', response.status_code)}: {body.get('detail', '')}".rstrip(": ")
    retry = response.headers.get("retry-after")
    if retry:
        line += f"; retry after {retry} s"
    return line


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 30.0):
        headers = {"X-API-Key": api_key} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(f"cannot reach the gateway at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise GatewayError(_explain(response))
        return response

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/queue", json=body).json()
        return result

    def status(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/queue/{job_id}").json()
        return result

    def audio(self, job_id: str) -> bytes:
        return self._call("GET", f"/queue/{job_id}/audio").content

    def events(self, job_id: str) -> Iterator[Event]:
        """The job's events from the first one, live, until `done` or `error`."""
        path = f"/queue/{job_id}/events"
        # No read timeout: a queued job may wait long; the gateway pings every few seconds.
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        try:
            with connect_sse(self.http, "GET", path, timeout=timeout) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise GatewayError(_explain(source.response))
                for sse in dispatched(source.iter_sse()):
                    data = json.loads(sse.data) if sse.data else {}
                    yield Event(sse.event, int(sse.id or 0), data)
                    if sse.event in ("done", "error"):
                        return
        except httpx.HTTPError as exc:
            raise GatewayError(f"the event stream from {self.base_url} broke: {exc}") from exc
        raise GatewayError("the event stream ended before the job did")
