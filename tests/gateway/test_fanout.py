"""Regression: 200 SSE readers of one job once exhausted the Redis connection pool (one
pub/sub connection each, 500s past 100). They now share one subscription per process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.app import create_app
from shared.eventlog import EventPublisher
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve

READERS = 200
pytestmark = pytest.mark.anyio


@pytest.fixture
def gateway(tmp_path: Path, redis_server: RedisServer) -> Iterator[str]:
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_server.db(12),
        redis_max_connections=16,
        store=StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
        ),
    )
    with serve(create_app(settings)) as base:
        yield base
    redis.Redis.from_url(redis_server.db(12)).flushdb()


async def test_two_hundred_readers_of_one_job_get_every_event(
    gateway: str, redis_server: RedisServer
) -> None:
    job_id = f"fanout-{uuid.uuid4().hex}"
    sync = redis.Redis.from_url(redis_server.db(12))
    pub = EventPublisher(sync)
    pub.publish(job_id, "status", {"stage": "summarizing"})
    limits = httpx.Limits(max_connections=READERS + 10)
    async with httpx.AsyncClient(base_url=gateway, timeout=60, limits=limits) as client:

        async def read() -> list[int]:
            seqs = []
            async with client.stream("GET", f"/queue/{job_id}/events") as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("id:"):
                        seqs.append(int(line[3:]))
            return seqs

        readers = [asyncio.create_task(read()) for _ in range(READERS)]
        await asyncio.sleep(1.0)
        for i in range(20):
            await asyncio.to_thread(pub.publish, job_id, "token", {"text": json.dumps(i)})
        await asyncio.to_thread(pub.publish, job_id, "done", {})
        results = await asyncio.wait_for(asyncio.gather(*readers), 60)
    sync.close()
    assert all(seqs == list(range(1, 23)) for seqs in results)
