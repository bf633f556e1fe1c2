"""Scraping through the gateway (issue 8, section 2): slow pages cannot starve other clients
or the readiness probe, scraped text obeys the text limits, bad URLs are 4xx JSON.

Every page is served on loopback; the factory is a loopback app that is always ready. No
worker runs, so accepted jobs stay queued.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from gateway.app import create_app
from gateway.serving import JsonErrorsH11Protocol, http_protocol
from shared.settings import GatewaySettings, ScrapeSettings, StoreSettings
from tests.gateway.pages import site
from tests.redis_fixtures import RedisServer
from tests.servers import free_port, serve, wait_until

pytestmark = pytest.mark.anyio
DB = 14
DRIPS = 120  # more than httpx's default pool of 100 connections
QUEUE = "/queue"
LEGACY = "/api/v4/scrape-and-summarize/stream"


def ready_factory() -> Starlette:
    async def readyz(_: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    return Starlette(routes=[Route("/readyz", readyz)])


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    with serve(site(64 * 1024)) as base:
        yield base


@pytest.fixture(scope="module")
def fixture_pages_url() -> Iterator[str]:
    """The extraction fixtures (tests/fixtures/extraction), served as they are."""
    app = Starlette()
    app.mount("/", StaticFiles(directory=Path(__file__).parent.parent / "fixtures" / "extraction"))
    with serve(app) as base:
        yield base


@pytest.fixture(scope="module")
def factory_url() -> Iterator[str]:
    with serve(ready_factory()) as base:
        yield base


@pytest.fixture
def gateway(
    tmp_path: Path, request: pytest.FixtureRequest, redis_server: RedisServer, factory_url: str
) -> Iterator[str]:
    r = redis.Redis.from_url(redis_server.db(DB))
    r.flushdb()
    scrape: dict[str, Any] = {
        "read_timeout_s": 2.0,
        "connect_timeout_s": 2.0,
        "allowed_networks": [ip_network("127.0.0.1/32")],
        **getattr(request, "param", {}),
    }
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_server.db(DB),
        factory_url=factory_url,
        submissions_per_minute=1000,
        scrape=ScrapeSettings(_env_file=None, **scrape),  # type: ignore[call-arg]
        store=StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
        ),
    )
    with serve(create_app(settings)) as base:
        yield base
    r.flushdb()
    r.close()


def from_address(base: str, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (any 127.x address is loopback)."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address, limits=httpx.Limits(max_connections=DRIPS + 10)
    )
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=60)


@pytest.mark.parametrize(
    "gateway",
    [{"deadline_s": 4.0, "max_concurrent": 16, "max_concurrent_per_client": 8}],
    indirect=True,
)
async def test_dripping_pages_do_not_stop_other_scrapes_or_readiness(
    gateway: str, site_url: str
) -> None:
    """Regression: 100 pages dripping a byte every few seconds held every connection of the
    one pool that scraping and /readyz shared; other scrapes timed out and /readyz was 503."""
    drip = {"url": f"{site_url}/drip?every=0.5"}
    answers: list[httpx.Response] = []
    async with (
        from_address(gateway, "127.0.0.1") as attacker,
        from_address(gateway, "127.0.0.2") as someone,
    ):

        async def submit_drip() -> None:
            answers.append(await attacker.post(QUEUE, json=drip))

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for _ in range(DRIPS):
                    tg.start_soon(submit_drip)
                await anyio.sleep(2.0)  # the drips the gateway took are holding on
                normal = await someone.post(QUEUE, json={"url": f"{site_url}/article"})
                ready = await someone.get("/readyz")
                # Redis, the factory and the store answer; no worker runs in this test.
                failing = ready.json().get("failing", {})
                assert normal.status_code == 202 and set(failing) <= {"workers"}, (
                    normal.text,
                    ready.text,
                )

    codes = sorted(r.json()["error"] for r in answers)
    assert codes.count("deadline_exceeded") == 8  # the attacker's share, cut at the deadline
    assert codes.count("too_many_scrapes") == DRIPS - 8
    for r in answers:
        if r.json()["error"] == "too_many_scrapes":
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        else:
            assert r.status_code == 422
            assert "deadline" in r.json()["detail"]


@pytest.mark.parametrize(
    "gateway",
    [{"deadline_s": 6.0, "max_concurrent": 4, "max_concurrent_per_client": 2}],
    indirect=True,
)
async def test_readiness_answers_while_drips_hold_every_scraping_connection(
    gateway: str, site_url: str
) -> None:
    """Regression: /readyz probed the factory through the scraping pool; with every one of its
    connections held by a drip, the probe waited for a free one and answered 503."""
    drip = {"url": f"{site_url}/drip?every=0.5"}
    async with (
        from_address(gateway, "127.0.0.2") as a,
        from_address(gateway, "127.0.0.3") as b,
        from_address(gateway, "127.0.0.4") as someone,
    ):
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for client in (a, a, b, b):  # 4 drips: the whole pool of 4
                    tg.start_soon(partial(client.post, QUEUE, json=drip))
                await anyio.sleep(2.0)
                busy = await someone.post(QUEUE, json={"url": f"{site_url}/article"})
                assert busy.status_code == 429 and busy.json()["error"] == "scrapes_busy"
                started = anyio.current_time()
                ready = await someone.get("/readyz")
                waited = anyio.current_time() - started
                assert set(ready.json().get("failing", {})) <= {"workers"}, ready.text
                assert waited < 2.0, waited  # not behind a drip's deadline


@pytest.mark.parametrize("gateway", [{"max_concurrent": 2, "deadline_s": 3.0}], indirect=True)
async def test_scrapes_beyond_the_total_bound_get_429(gateway: str, site_url: str) -> None:
    drip = {"url": f"{site_url}/drip?every=0.5"}
    async with (
        from_address(gateway, "127.0.0.2") as a,
        from_address(gateway, "127.0.0.3") as b,
        from_address(gateway, "127.0.0.4") as c,
    ):
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(a.post, QUEUE, json=drip))
                tg.start_soon(partial(b.post, QUEUE, json=drip))
                await anyio.sleep(1.0)
                r = await c.post(QUEUE, json={"url": f"{site_url}/article"})
                assert r.status_code == 429 and r.json()["error"] == "scrapes_busy"
                assert int(r.headers["Retry-After"]) > 0
        after = await c.post(QUEUE, json={"url": f"{site_url}/article"})
        assert after.status_code == 202, after.text


async def test_scraped_text_is_held_to_the_text_limit(gateway: str, site_url: str) -> None:
    """Regression: a 1 MB page was accepted (and failed later at the factory)."""
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as c:
        r = await c.post(QUEUE, json={"url": f"{site_url}/huge-plain"})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "text_too_large"
        assert "200000" in r.json()["detail"]
        r = await c.post(LEGACY, params={"url": f"{site_url}/huge-plain"})
        assert r.status_code == 413 and r.json()["error"] == "text_too_large"


async def test_a_page_that_is_not_an_article_is_a_422_with_its_code(
    gateway: str, fixture_pages_url: str
) -> None:
    """Issue 12: a section front was summarized as if its headlines were an article."""
    url = f"{fixture_pages_url}/section-front.html"
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as c:
        r = await c.post(QUEUE, json={"url": url})
        assert r.status_code == 422 and r.json()["error"] == "not_an_article", r.text
        assert "headlines" in r.json()["detail"]
        r = await c.post(LEGACY, params={"url": url})
        assert r.status_code == 422 and r.json()["error"] == "not_an_article", r.text
        metrics = (await c.get("/metrics")).text
        assert 'pulse_scrape_refused_total{reason="not_an_article"}' in metrics


@pytest.mark.parametrize(
    ("url", "code"),
    [
        # Control characters: refused by the request's validation, the field named.
        ("http://127.0.0.1:{port}/art\ticle", "invalid_request"),
        ("http://127.0.0.1:{port}/\x00", "invalid_request"),
        # Whitespace is no control character: the scraper's own URL check refuses it.
        ("http://127.0.0.1:{port}/a b", "invalid_url"),
    ],
)
async def test_urls_with_control_characters_are_422_not_500(
    gateway: str, site_url: str, url: str, code: str
) -> None:
    """Regression: a tab in a URL passed the address check and httpx's InvalidURL was a 500."""
    port = site_url.rsplit(":", 1)[1]
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as c:
        r = await c.post(QUEUE, json={"url": url.format(port=port)})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == code, r.text


@pytest.mark.parametrize("length", [2049, 10_000])
async def test_legacy_endpoint_answers_an_over_long_url_with_json(
    gateway: str, length: int
) -> None:
    """A URL over 2048 characters is a JSON 422 (request lines beyond the HTTP parser's own
    limit, 64 KB with httptools, are refused by uvicorn before the app sees them)."""
    url = "https://news.example/" + "a" * (length - 21)
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as c:
        r = await c.post(LEGACY, params={"url": url})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_request" and "url" in body["detail"]
    assert body["fields"][0]["field"].endswith("url")


@contextmanager
def serve_with(app: Any, protocol: type[asyncio.Protocol]) -> Iterator[int]:
    """`app` under uvicorn with the given HTTP protocol class, as `python -m gateway` runs it."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=protocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def raw_request(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send `request` as it is (no client-side checks); the answer's head and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def assert_json_400(head: bytes, body: bytes) -> None:
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"] == "invalid_http_request"


def test_a_url_too_long_for_the_http_parser_is_answered_with_json() -> None:
    """Regression: a URL past httptools' 64 KB limit got uvicorn's plain-text 400 (on every
    route, the legacy endpoint's included), before the app could answer."""
    app = Starlette(routes=[Route(LEGACY, lambda _: JSONResponse({}), methods=["POST"])])
    target = f"{LEGACY}?url=https://news.example/{'a' * 70_000}"
    with serve_with(app, http_protocol()) as port:
        head, body = raw_request(port, f"POST {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert_json_400(head, body)


@pytest.mark.parametrize("impl", ["auto", "h11"])
def test_malformed_http_is_answered_with_json(impl: str) -> None:
    protocol = http_protocol() if impl == "auto" else JsonErrorsH11Protocol
    app = Starlette(routes=[Route(LEGACY, lambda _: JSONResponse({}), methods=["POST"])])
    with serve_with(app, protocol) as port:
        head, body = raw_request(port, b"POST /x HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n")
    assert_json_400(head, body)
