"""An unexpected exception is logged under a request id; its text never reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from shared.http_errors import ApiError, install_error_handlers
from shared.schemas import SummarizeRequest
from tests.servers import serve

SECRET = "password=hunter2 at /srv/pulse/secret.py"


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/refused")
    async def refused() -> None:
        raise ApiError(422, "bad", "caller sent \ud800")  # an echo of input with no UTF-8 form

    @app.post("/summarize")
    async def summarize(req: SummarizeRequest) -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    """A new connection per test: uvicorn closes one after an unhandled exception."""
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_unexpected_exception_text_never_reaches_the_body(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.http_errors"):
        r = client.get("/boom")
    assert r.status_code == 500
    assert "hunter2" not in r.text and "RuntimeError" not in r.text and "secret" not in r.text
    body = r.json()
    rid = body["request_id"]
    assert body["error"] == "internal_error"
    assert body["detail"] == f"an internal error occurred; quote request id {rid}"
    assert r.headers["x-request-id"] == rid
    # The operator finds the exception, with its traceback, under that id.
    logged = [rec for rec in caplog.records if rid in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert SECRET in str(logged[0].exc_info[1])


def test_a_safe_incoming_request_id_is_kept(client: httpx.Client) -> None:
    r = client.get("/boom", headers={"X-Request-ID": "lb-7f3a.2_x:1"})
    assert r.status_code == 500
    assert r.json()["request_id"] == "lb-7f3a.2_x:1"
    assert r.headers["x-request-id"] == "lb-7f3a.2_x:1"


@pytest.mark.parametrize("given", ["a b", "x" * 65, "<script>", "id;rm -rf", "é"])
def test_an_unsafe_incoming_request_id_is_replaced(client: httpx.Client, given: str) -> None:
    r = client.get("/boom", headers={"X-Request-ID": given.encode()})
    rid = r.json()["request_id"]
    assert rid != given and rid.isalnum() and len(rid) == 32
    assert r.headers["x-request-id"] == rid


def test_error_details_without_a_utf8_form_still_answer_json(client: httpx.Client) -> None:
    r = client.get("/refused")
    assert r.status_code == 422
    assert r.json() == {"error": "bad", "detail": "caller sent \\ud800"}


def test_an_unknown_field_named_with_a_lone_surrogate_is_422(client: httpx.Client) -> None:
    raw = b'{"text": "fine", "x\\ud800": 1}'
    r = client.post("/summarize", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text  # pydantic cannot read the key: the body is refused
    assert r.json()["error"] == "invalid_request"
    assert "request_id" not in r.json()


def test_a_wrong_method_is_405_with_the_allowed_methods(client: httpx.Client) -> None:
    """Regression: the JSON error handler dropped the exception's headers, so a 405 came
    without the `Allow` header RFC 9110 requires (found by schemathesis)."""
    r = client.request("TRACE", "/summarize")
    assert r.status_code == 405
    assert r.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
    assert r.headers["allow"] == "POST"


def test_a_405_names_the_methods_of_every_route_of_its_path() -> None:
    """Starlette's own names those of one route when two serve a path (GET and POST
    /queue), also in an included router."""
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()

    @router.get("/both")
    async def read() -> None: ...

    @router.post("/both")
    async def write() -> None: ...

    app.include_router(router)
    with serve(app) as base:
        for method in ("OPTIONS", "DELETE"):
            r = httpx.request(method, f"{base}/both")
            assert r.status_code == 405 and r.headers["allow"] == "GET, POST", method
