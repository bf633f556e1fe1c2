"""Gateway protections, each from settings: API key, CORS, body limit, rate limit, queue depth.

No worker runs here, so submitted jobs stay queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import free_port, serve

WORDS = " ".join(f"word{i}" for i in range(80))


def text(tag: str) -> str:
    return f"{tag} {WORDS}"


@pytest.fixture
def gateway(
    tmp_path: Path, request: pytest.FixtureRequest, redis_server: RedisServer
) -> Iterator[httpx.Client]:
    r = redis.Redis.from_url(redis_server.db(10))
    r.flushdb()
    overrides: dict[str, Any] = getattr(request, "param", {})
    values: dict[str, Any] = {
        "redis_url": redis_server.db(10),
        "factory_url": "http://127.0.0.1:9",
        "store": StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
        ),
    }
    settings = GatewaySettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]
    with serve(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c
    r.flushdb()
    r.close()


@pytest.mark.parametrize("gateway", [{"api_key": "k3y"}], indirect=True)
def test_api_key_is_required_on_writes(gateway: httpx.Client) -> None:
    r = gateway.post("/queue", json={"text": text("a")})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert (
        gateway.post("/queue", json={"text": text("a")}, headers={"X-API-Key": "no"}).status_code
        == 401
    )
    ok = gateway.post("/queue", json={"text": text("a")}, headers={"X-API-Key": "k3y"})
    assert ok.status_code == 202
    # Reading the job needs the key or its read token (tests/gateway/test_access.py).
    assert gateway.get(ok.json()["status_url"]).status_code == 200


@pytest.mark.parametrize("gateway", [{"submissions_per_minute": 2}], indirect=True)
def test_submissions_are_rate_limited_per_client(gateway: httpx.Client) -> None:
    assert gateway.post("/queue", json={"text": text("a")}).status_code == 202
    assert gateway.post("/queue", json={"text": text("b")}).status_code == 202
    r = gateway.post("/queue", json={"text": text("c")})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert 0 < int(r.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("gateway", [{"max_queue_depth": 2}], indirect=True)
def test_a_full_queue_refuses_with_retry_after(gateway: httpx.Client) -> None:
    first = gateway.post("/queue", json={"text": text("a")})
    assert gateway.post("/queue", json={"text": text("b")}).status_code == 202
    r = gateway.post("/queue", json={"text": text("c")})
    assert r.status_code == 429 and r.json()["error"] == "queue_full"
    assert int(r.headers["Retry-After"]) > 0
    # The queued jobs are untouched, and the same content joins its running job.
    same = gateway.post("/queue", json={"text": text("a")})
    assert same.status_code == 202 and same.json()["job_id"] == first.json()["job_id"]
    status = gateway.get(f"/queue/{first.json()['job_id']}").json()
    assert status["status"] == "queued" and status["position"] == 0
    assert gateway.get("/queue").json()["depth"] == 2


@pytest.mark.parametrize(
    "gateway",
    # As configured, and as people type it (a trailing slash, capitals): browsers send neither.
    [{"cors_origins": ["https://app.example"]}, {"cors_origins": ["https://App.example/"]}],
    indirect=True,
)
def test_cors_allows_only_the_listed_origins(gateway: httpx.Client) -> None:
    def preflight(origin: str) -> httpx.Response:
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        return gateway.options("/queue", headers=headers)

    assert preflight("https://app.example").headers["access-control-allow-origin"] == (
        "https://app.example"
    )
    assert "access-control-allow-origin" not in preflight("https://evil.example").headers


@pytest.mark.parametrize(
    "gateway", [{"max_request_bytes": 5000, "max_text_bytes": 3000}], indirect=True
)
def test_body_and_text_limits(gateway: httpx.Client) -> None:
    r = gateway.post("/queue", json={"text": "a " * 4000})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = gateway.post("/queue", json={"text": "é " * 1200})
    assert r.status_code == 413 and r.json()["error"] == "text_too_large"


def test_readiness_names_the_failing_dependency(gateway: httpx.Client) -> None:
    r = gateway.get("/readyz")
    assert r.status_code == 503
    assert set(r.json()["failing"]) == {"factory", "workers"}  # no factory, no worker
    assert gateway.get("/health").json() == {"status": "ok", "demo_model": None}  # no factory


DOWN_PORT = free_port()


@pytest.mark.parametrize(
    "gateway",
    [{"redis_url": f"redis://127.0.0.1:{DOWN_PORT}/0", "redis_retry_s": 0}],
    indirect=True,
)
def test_readiness_names_a_dependency_without_its_address(gateway: httpx.Client) -> None:
    # Regression: the 503 carried the exception's text ("Error 111 connecting to 127.0.0.1:...").
    r = gateway.get("/readyz")
    assert r.status_code == 503
    failing = r.json()["failing"]
    assert failing["redis"] == "redis unreachable (ConnectionError)", failing
    assert "127.0.0.1" not in r.text and str(DOWN_PORT) not in r.text, r.text


def test_legacy_stream_endpoint_refuses_bad_urls(gateway: httpx.Client) -> None:
    path = "/api/v4/scrape-and-summarize/stream"
    r = gateway.post(path)
    assert r.status_code == 422 and "url" in r.json()["detail"]
    r = gateway.post(path, params={"url": "file:///etc/passwd"})
    assert r.status_code == 422 and r.json()["error"] == "unsupported_scheme"
    r = gateway.post(path, params={"url": "http://10.0.0.1/", "style": "eli5"})
    assert r.status_code == 422 and r.json()["error"] == "blocked_address"
    r = gateway.post(path, params={"url": "https://news.example/", "style": "haiku"})
    assert r.status_code == 422 and "style" in r.json()["detail"]
    # Regression: a control character in the URL was a 500 here (the check ran in the route).
    for bad in ("http://news.example/a\tb", "http://news.example/\x00"):
        r = gateway.post(path, params={"url": bad})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", (bad, r.text)
        assert r.json()["fields"][0]["field"] == "url"
