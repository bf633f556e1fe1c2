"""Real responses checked against a service's own OpenAPI document with openapi-core: the
status, headers and body of each, every event of an event stream against the stream's item
schema (`x-itemSchema`) and that event's data schema (its `contentSchema`), and each request
that succeeded against what the document allows."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator, oas31_format_checker

Operation = tuple[str, str, int]  # method, path template, status


def _text(body: bytes, charset: str = "utf-8", **_: str) -> str:
    return body.decode(charset)


def parse_sse(text: str) -> list[dict[str, str]]:
    """The events a browser would dispatch: `event`, `id` and `data` of each (comments and
    events without data dropped)."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        event: dict[str, str] = {}
        data: list[str] = []
        for line in re.split(r"\r\n|\n|\r", block):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                event[name] = value
        if data:
            events.append({**event, "data": "\n".join(data)})
    return events


class Contract:
    """One service's document; `check` validates a real response and records its status."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        config = Config(extra_media_type_deserializers={"text/event-stream": _text})
        self.api = OpenAPI.from_dict(doc, config=config)  # the document is validated too
        self.seen: set[Operation] = set()
        self._paths = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in doc["paths"]
        ]

    def declared(self) -> set[Operation]:
        return {
            (method.upper(), path, int(status))
            for path, operations in self.doc["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }

    def template(self, path: str) -> str:
        matches = [p for pattern, p in self._paths if pattern.match(path)]
        assert len(matches) == 1, f"{path} matches {matches} in the document"
        return matches[0]

    def check(self, response: httpx.Response) -> httpx.Response:
        """Validate `response` (read in full) against the document; returns it."""
        request = response.request
        mock_request = MockRequest(
            host_url=f"{request.url.scheme}://{request.url.netloc.decode()}",
            method=request.method,
            path=request.url.path,
            args=dict(request.url.params),
            headers=dict(request.headers),
            data=request.content,
            content_type=request.headers.get("content-type", ""),
        )
        content_type = response.headers.get("content-type", "")
        mock_response = MockResponse(
            response.content, response.status_code, dict(response.headers), content_type
        )
        where = f"{request.method} {request.url.path} -> {response.status_code}"
        try:
            if response.is_success:  # a request the service took is one the document allows
                self.api.validate_request(mock_request)
            self.api.validate_response(mock_request, mock_response)
        except Exception as exc:
            cause = getattr(exc, "__cause__", None)
            errors = [str(e) for e in getattr(cause, "schema_errors", ())]
            raise AssertionError(f"{where}: {exc!r} {errors}\n{response.text[:2000]}") from exc
        template = self.template(request.url.path)
        if content_type.startswith("text/event-stream"):
            self.check_events(request.method, template, response.status_code, response.text)
        self.seen.add((request.method, template, response.status_code))
        return response

    def check_events(self, method: str, path: str, status: int, text: str) -> None:
        operation = self.doc["paths"][path][method.lower()]
        media = operation["responses"][str(status)]["content"]["text/event-stream"]
        item = self._validator(media["x-itemSchema"])
        for event in parse_sse(text):
            item.validate(event)
            branch = self._resolve(media["x-itemSchema"])
            mapping = branch["discriminator"]["mapping"]
            event_schema = self._resolve({"$ref": mapping[event["event"]]})
            content = event_schema["properties"]["data"]["contentSchema"]
            self._validator(content).validate(json.loads(event["data"]))

    def events(self, response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
        """The stream's events (checked by `check`), as (type, data)."""
        return [(e["event"], json.loads(e["data"])) for e in parse_sse(response.text)]

    def _validator(self, schema: dict[str, Any]) -> OAS31Validator:
        rooted = {**schema, "components": self.doc["components"]}
        return OAS31Validator(rooted, format_checker=oas31_format_checker)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = self.doc["components"]["schemas"][name]
        return schema
