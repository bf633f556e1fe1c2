"""uvicorn's HTTP protocols, answering the requests their parser refuses (a request line over
httptools' 64 KB, headers over h11's 16 KB, malformed HTTP) with the project's JSON error
body instead of plain text. The app never sees those requests, so only the server can."""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_DETAIL = "the HTTP request could not be parsed (is the URL or a header too long?)"


def _body() -> bytes:
    return json.dumps({"error": "invalid_http_request", "detail": _DETAIL}).encode()


class JsonErrorsH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=_body()),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def http_protocol() -> type[asyncio.Protocol]:
    """The protocol uvicorn's "auto" would pick (httptools when installed), with JSON 400s."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return JsonErrorsH11Protocol

    class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body = _body()
            head = [b"HTTP/1.1 400 Bad Request\r\n"]
            defaults = self.server_state.default_headers  # date, server
            head += [name + b": " + value + b"\r\n" for name, value in defaults]
            head += [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
            self.transport.close()

    return JsonErrorsHttpToolsProtocol
