"""One JSON error shape for every service: `{"error": code, "detail": reason, "fields"?}`.

An unexpected exception is logged with its traceback under a request id; the client gets the
id, never the exception's text.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.schemas import ErrorBody, FieldError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is a short safe token, else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def printable(text: str) -> str:
    """`text` with what has no UTF-8 form (lone surrogates) spelled as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiError(Exception):
    """An error the client should see as-is."""

    def __init__(
        self, status: int, code: str, detail: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        body = ErrorBody(error=self.code, detail=printable(self.detail))
        return JSONResponse(body.model_dump(exclude_none=True), self.status, headers=headers)


# The headers an error response may carry, as the OpenAPI document declares them.
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
REQUEST_ID_RESPONSE_HEADER: dict[str, Any] = {
    "description": "the request id the body quotes (the caller's own when it sent one)",
    "required": True,
    "schema": {"type": "string"},
}


def error_response(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    """One entry of a route's `responses=`: an error answered with `ErrorBody` (and its
    `Retry-After` header when `retry_after`)."""
    response: dict[str, Any] = {"model": ErrorBody, "description": description}
    if retry_after:
        response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    return response


def _describe(errors: list[dict[str, object]]) -> list[FieldError]:
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]  # type: ignore[attr-defined]
        field, message = ".".join(loc) or "body", str(err.get("msg", ""))
        out.append(FieldError(field=printable(field), message=printable(message)))
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Make validation errors, HTTP errors and ApiError share ErrorBody."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _describe(list(exc.errors()))
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
        body = ErrorBody(error="invalid_request", detail=detail, fields=fields)
        return JSONResponse(body.model_dump(exclude_none=True), 422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.error(
            "request id %s: %s %s failed",
            rid,
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        body = ErrorBody(
            error="internal_error",
            detail=f"an internal error occurred; quote request id {rid}",
            request_id=rid,
        )
        headers = {REQUEST_ID_HEADER: rid}
        return JSONResponse(body.model_dump(exclude_none=True), 500, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        body = ErrorBody(error=code, detail=printable(str(exc.detail)))
        headers = dict(exc.headers or {})  # e.g. a 405's `Allow` (RFC 9110)
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return JSONResponse(body.model_dump(exclude_none=True), exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method the path is served with (Starlette's 405 names one route's only, when
    two routes serve a path: GET and POST /queue)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


class BodyLimitMiddleware:
    """Answer 413 once a request body grows past `max_bytes`, before the app parses it.

    The body is read here in full (it is small by construction) so that an oversized one
    never reaches the app, whether or not it declared a Content-Length.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body is larger than {self.max_bytes} bytes"
        await ApiError(413, "payload_too_large", detail).response()(scope, receive, send)
