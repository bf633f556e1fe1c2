"""Who may read what (issue 8, 2.1 and 2.9), the queue limit under concurrency (3.7) and
outages answered 503 (3.10). No worker runs here, so submitted jobs stay queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from shared.settings import StoreSettings
from shared.store import StoredResult
from shared.store.pending import PendingWrites
from tests.gateway.apps import gateway_settings, running_gateway, text
from tests.postgres import refuse_connections, throwaway_database, url_of
from tests.redis_fixtures import RedisServer

KEY = "k3y-for-tests"


@pytest.fixture
def db(redis_server: RedisServer) -> Iterator[str]:
    url = redis_server.db(14)
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def keyed(db: str, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = gateway_settings(db, tmp_path, api_key=KEY, metrics_token="m3trics")
    with running_gateway(settings) as client:
        yield client


def test_with_a_key_listing_and_results_are_not_public(keyed: httpx.Client) -> None:
    """Regression: with GATEWAY_API_KEY set, anyone could list recent jobs and read every
    result and its audio."""
    submitted = keyed.post("/queue", json={"text": text("a")}, headers={"X-API-Key": KEY})
    assert submitted.status_code == 202
    body = submitted.json()
    job_id, token = body["job_id"], body["read_token"]
    assert token and f"token={token}" in body["status_url"] and body["stream_url"].endswith(token)

    assert keyed.get("/queue").status_code == 401
    assert keyed.get("/queue", headers={"X-API-Key": KEY}).status_code == 200
    for path in (f"/queue/{job_id}", f"/queue/{job_id}/audio"):
        r = keyed.get(path)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", path
    with keyed.stream("GET", f"/queue/{job_id}/events") as r:
        assert r.status_code == 401

    # The job's own token opens it (query or header), and only it.
    assert keyed.get(body["status_url"]).json()["status"] == "queued"
    assert keyed.get(f"/queue/{job_id}", headers={"X-Read-Token": token}).status_code == 200
    assert keyed.get(f"/queue/{job_id}/audio", params={"token": token}).status_code == 404
    with keyed.stream("GET", body["stream_url"]) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    other = keyed.post("/queue", json={"text": text("b")}, headers={"X-API-Key": KEY}).json()
    assert keyed.get(f"/queue/{other['job_id']}", params={"token": token}).status_code == 401
    assert keyed.get(f"/queue/{job_id}", params={"token": token[:-1] + "x"}).status_code == 401
    # The key opens every job; Bearer works as X-API-Key does.
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert keyed.get(f"/queue/{other['job_id']}", headers=bearer).status_code == 200


def test_metrics_need_the_key_or_the_metrics_token(keyed: httpx.Client) -> None:
    assert keyed.get("/metrics").status_code == 401
    assert keyed.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert keyed.get("/metrics", headers={"Authorization": "Bearer m3trics"}).status_code == 200
    assert keyed.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    # The metrics token is no API key: it cannot submit.
    r = keyed.post("/queue", json={"text": text("c")}, headers={"X-API-Key": "m3trics"})
    assert r.status_code == 401


def test_without_a_key_everything_is_open_and_no_token_is_issued(db: str, tmp_path: Path) -> None:
    with running_gateway(gateway_settings(db, tmp_path)) as client:
        body = client.post("/queue", json={"text": text("a")}).json()
        assert body["read_token"] is None and body["status_url"] == f"/queue/{body['job_id']}"
        assert client.get(body["status_url"]).status_code == 200
        assert client.get("/queue").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_forwarded_for_is_believed_only_from_trusted_proxies(db: str, tmp_path: Path) -> None:
    """Regression: the rate limit trusted X-Forwarded-For from any local peer, so a client
    could name a new address on every request and never be limited."""

    def spoofed(client: httpx.Client, i: int) -> int:
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        return client.post("/queue", json={"text": text(f"x{i}")}, headers=headers).status_code

    untrusted = gateway_settings(db, tmp_path, submissions_per_minute=2)
    with running_gateway(untrusted) as client:
        assert [spoofed(client, i) for i in range(3)] == [202, 202, 429]

    redis.Redis.from_url(db).flushdb()
    trusted = gateway_settings(
        db, tmp_path, submissions_per_minute=2, trusted_proxies=["127.0.0.1/32"]
    )
    with running_gateway(trusted) as client:
        # Behind a trusted proxy each forwarded client has its own window...
        assert [spoofed(client, i) for i in range(3)] == [202, 202, 202]
        # ...and a client cannot hide behind an address it puts in front of the proxy's.
        chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.50"}
        codes = [
            client.post("/queue", json={"text": text(f"y{i}")}, headers=chain).status_code
            for i in range(3)
        ]
        assert codes == [202, 202, 429]


def test_the_queue_limit_holds_under_concurrent_submissions(db: str, tmp_path: Path) -> None:
    """Regression: with a limit of 20, 87 of 100 concurrent submissions were accepted."""
    settings = gateway_settings(db, tmp_path, max_queue_depth=20, submissions_per_minute=1000)
    with running_gateway(settings) as client:
        base = str(client.base_url)

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as ac:
                posts = [ac.post("/queue", json={"text": text(f"c{i}")}) for i in range(100)]
                return [r.status_code for r in await asyncio.gather(*posts)]

        codes = asyncio.run(burst())
        assert codes.count(202) == 20 and codes.count(429) == 80
        assert client.get("/queue").json()["depth"] == 20


def test_redis_down_is_a_503_with_retry_after(tmp_path: Path) -> None:
    """Regression: with Redis down, GET /queue/{id} and POST /queue answered 500."""
    own = RedisServer(tmp_path / "redis").start()
    try:
        settings = gateway_settings(own.db(0), tmp_path, retry_after_s=7)
        with running_gateway(settings) as client:
            job_id = client.post("/queue", json={"text": text("a")}).json()["job_id"]
            own.stop()
            for r in (
                client.get(f"/queue/{job_id}"),
                client.post("/queue", json={"text": text("b")}),
            ):
                assert r.status_code == 503, r.text
                assert r.json()["error"] == "redis_unavailable"
                assert r.headers["Retry-After"] == "7"
            own.start()  # no persistence: the job is gone, but the gateway answers again
            assert client.get(f"/queue/{job_id}").status_code == 404
            assert client.post("/queue", json={"text": text("b")}).status_code == 202
    finally:
        own.stop()


@pytest.mark.parametrize("appendonly", [True, False], ids=["aof", "no-aof"])
def test_a_redis_restart_is_ridden_out_within_the_request(tmp_path: Path, appendonly: bool) -> None:
    """Regression (a fresh machine's CI): the first submission after Redis came back, while
    it was still loading its append-only file or on a connection pooled before the restart,
    answered 503 redis_unavailable."""
    own = RedisServer(tmp_path / "redis", appendonly=appendonly).start()
    try:
        with running_gateway(gateway_settings(own.db(0), tmp_path)) as client:
            first = client.post("/queue", json={"text": text("a")}).json()["job_id"]
            for i in range(3):
                own.stop()
                back = threading.Timer(0.3, own.start)  # back while the request waits
                back.start()
                r = client.post("/queue", json={"text": text(f"restart {i}")})
                back.join()
                assert r.status_code == 202, r.text
                status = client.get(f"/queue/{first}")
                assert status.status_code == (200 if appendonly else 404), status.text
    finally:
        own.stop()


def test_postgres_down_is_a_503_and_the_gateway_reconnects_after(db: str, tmp_path: Path) -> None:
    """Regression: PostgreSQL down on POST /queue answered 500, and so did the first request
    after it came back (a stale connection)."""
    with throwaway_database("pulse_gw") as name:
        store = StoreSettings(  # type: ignore[call-arg]
            _env_file=None, backend="postgres", database_url=url_of(name), timeout_s=3
        )
        with running_gateway(gateway_settings(db, tmp_path, store=store)) as client:
            assert client.post("/queue", json={"text": text("a")}).status_code == 202
            refuse_connections(name, True)
            r = client.post("/queue", json={"text": text("b")})
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable", r.text
            assert int(r.headers["Retry-After"]) > 0
            refuse_connections(name, False)
            assert client.post("/queue", json={"text": text("b")}).status_code == 202


def test_audio_is_served_from_redis_while_its_store_write_waits(db: str, tmp_path: Path) -> None:
    """A finished job whose store write failed keeps its MP3 in Redis until a worker writes
    it: the audio URL its `audio` event named must work meanwhile."""
    kept = StoredResult(
        job_id="kept-job", content_key="k", status="finished", style="skimmer", tasks=["audio"]
    )
    PendingWrites(redis.Redis.from_url(db), ttl_s=60).keep(kept, b"ID3-kept-audio")
    with running_gateway(gateway_settings(db, tmp_path)) as client:
        r = client.get("/queue/kept-job/audio")
        assert r.status_code == 200 and r.content == b"ID3-kept-audio"
        assert r.headers["content-type"] == "audio/mpeg"
        assert client.get("/queue/other-job/audio").status_code == 404
