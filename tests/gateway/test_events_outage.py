"""Event streams through a real gateway across a Redis restart (a private redis-server,
stopped and started again on its port), and a Last-Event-ID past the end.

Regressions: after a Redis outage the gateway sent no live events until it was restarted
(its shared subscription task died on "Connection refused"), and a live stream opened with
a Last-Event-ID beyond the last event never ended.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from gateway.app import create_app
from shared import redis_names as names
from shared.eventlog import EventPublisher
from shared.jobstate import JobStates
from shared.settings import GatewaySettings, JobSettings, StoreSettings
from shared.store import StoredResult, open_store
from tests.redis_fixtures import RedisServer
from tests.servers import serve, wait_until

pytestmark = pytest.mark.anyio


def store_settings(tmp_path: Path) -> StoreSettings:
    return StoreSettings(  # type: ignore[call-arg]
        _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
    )


@contextmanager
def gateway(tmp_path: Path, server: RedisServer) -> Iterator[str]:
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=server.db(0),
        store=store_settings(tmp_path),
    )
    with serve(create_app(settings)) as base:
        yield base


@contextmanager
def private_redis(tmp_path: Path, appendonly: bool) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=appendonly).start()
    try:
        yield server
    finally:
        server.stop()


class Reader:
    """An SSE client reading one job's stream in the background."""

    def __init__(self, base: str, job_id: str, last_event_id: int | None = None) -> None:
        self.events: list[tuple[int, str, dict[str, object]]] = []
        self.status: int | None = None
        self.arrived = asyncio.Event()
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        self.task = asyncio.create_task(self._read(base, job_id, headers))

    async def _read(self, base: str, job_id: str, headers: dict[str, str]) -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=60) as client,
            client.stream("GET", f"/queue/{job_id}/events", headers=headers) as r,
        ):
            self.status = r.status_code
            seq, kind = 0, ""
            async for line in r.aiter_lines():
                if line.startswith("id:"):
                    seq = int(line[3:])
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    self.events.append((seq, kind, json.loads(line[5:])))
                    self.arrived.set()

    async def has(self, n: int) -> None:
        while len(self.events) < n:
            self.arrived.clear()
            await self.arrived.wait()

    async def ended(self, within_s: float = 60) -> list[tuple[int, str]]:
        await asyncio.wait_for(self.task, within_s)
        return [(seq, kind) for seq, kind, _ in self.events]


def states(client: redis.Redis) -> JobStates:
    return JobStates(client, JobSettings(_env_file=None))  # type: ignore[call-arg]


def started(client: redis.Redis, job_id: str) -> None:
    states(client).started(job_id, "summarizing", 0.05)


def subscribed(client: redis.Redis, job_id: str) -> bool:
    """The gateway is subscribed to the job's channel."""
    try:
        return bool(client.pubsub_numsub(names.events_channel(job_id))[0][1])
    except redis.ConnectionError:
        return False


async def wait_subscribed(client: redis.Redis, job_id: str) -> None:
    await asyncio.to_thread(wait_until, lambda: subscribed(client, job_id), 60)


async def test_live_events_flow_again_after_redis_restarts(tmp_path: Path) -> None:
    with private_redis(tmp_path, appendonly=True) as server, gateway(tmp_path, server) as base:
        sync = redis.Redis.from_url(server.db(0))
        job_id = uuid.uuid4().hex
        started(sync, job_id)
        pub = EventPublisher(sync)
        for i in range(3):
            pub.publish(job_id, "token", {"text": str(i)})
        readers = [Reader(base, job_id) for _ in range(3)]
        await asyncio.wait_for(asyncio.gather(*(r.has(3) for r in readers)), 30)

        await asyncio.to_thread(server.restart)  # the append-only file keeps the log
        for i in range(3, 5):  # likely before the gateway is back: pub/sub drops these
            await asyncio.to_thread(pub.publish, job_id, "token", {"text": str(i)})
        await wait_subscribed(sync, job_id)
        for i in range(5, 8):
            await asyncio.to_thread(pub.publish, job_id, "token", {"text": str(i)})
        await asyncio.to_thread(pub.publish, job_id, "done", {"status": "finished"})

        for reader in readers:
            got = await reader.ended()
            assert [seq for seq, _ in got] == list(range(1, 10))
            assert [e[2].get("text") for e in reader.events[:-1]] == [str(i) for i in range(8)]
            assert got[-1] == (9, "done")
        sync.close()


async def test_a_job_whose_end_never_reached_the_log_ends_its_streams_after_the_outage(
    tmp_path: Path,
) -> None:
    """The job ended while Redis was away (its state says so, but its terminal event was
    never logged): after the outage its readers get a terminal event made from its status."""
    with private_redis(tmp_path, appendonly=True) as server, gateway(tmp_path, server) as base:
        sync = redis.Redis.from_url(server.db(0))
        job_id = uuid.uuid4().hex
        started(sync, job_id)
        pub = EventPublisher(sync)
        pub.publish(job_id, "status", {"stage": "summarizing"})
        pub.publish(job_id, "token", {"text": "all"})
        reader = Reader(base, job_id)
        await asyncio.wait_for(reader.has(2), 30)
        states(sync).failed(job_id, "WorkerLost: during the outage")

        await asyncio.to_thread(server.restart)

        assert await reader.ended() == [(1, "status"), (2, "token"), (3, "error")]
        assert reader.events[-1][2]["error"] == "job_failed"
        sync.close()


async def test_streams_end_when_redis_restarts_without_its_data(tmp_path: Path) -> None:
    """No persistence: the log, the counter and the job's state are gone. A reader of a job
    the store knows as finished gets its `done`; a reader of a job nobody knows any more gets
    an `error` event `events_lost` (poll the job's status). Neither sees the events a job
    goes on publishing with its numbering started again."""
    with private_redis(tmp_path, appendonly=False) as server, gateway(tmp_path, server) as base:
        sync = redis.Redis.from_url(server.db(0))
        stored, unknown = uuid.uuid4().hex, uuid.uuid4().hex
        pub = EventPublisher(sync)
        for job_id in (stored, unknown):
            started(sync, job_id)
            for i in range(3):
                pub.publish(job_id, "token", {"text": str(i)})
        readers = {job_id: Reader(base, job_id) for job_id in (stored, unknown)}
        await asyncio.wait_for(asyncio.gather(*(r.has(3) for r in readers.values())), 30)
        store = open_store(store_settings(tmp_path))
        store.save(
            StoredResult(
                job_id=stored,
                content_key="k",
                status="finished",
                style="skimmer",
                tasks=["summary"],
                outcomes={"summary": "ok"},
            )
        )
        store.close()

        await asyncio.to_thread(server.restart)  # empty
        for i in range(5):  # the unknown job goes on, numbering from 1 again
            await asyncio.to_thread(pub.publish, unknown, "token", {"text": f"new {i}"})

        done = await readers[stored].ended()
        assert done == [(1, "token"), (2, "token"), (3, "token"), (4, "done")]
        assert readers[stored].events[-1][2]["outcomes"] == {"summary": "ok"}
        lost = await readers[unknown].ended()
        assert lost == [(1, "token"), (2, "token"), (3, "token"), (4, "error")]
        assert readers[unknown].events[-1][2]["error"] == "events_lost"
        sync.close()


async def test_last_event_id_past_the_end_ends_the_live_stream_when_the_job_ends(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Regression (issue 8, 2.8): the stream dropped every event numbered at or below the
    reader's Last-Event-ID, the terminal one too, so it never ended."""
    with gateway(tmp_path, redis_server) as base:
        sync = redis.Redis.from_url(redis_server.db(0))
        job_id = uuid.uuid4().hex
        started(sync, job_id)
        pub = EventPublisher(sync)
        pub.publish(job_id, "status", {"stage": "summarizing"})
        reader = Reader(base, job_id, last_event_id=999)
        await wait_subscribed(sync, job_id)
        pub.publish(job_id, "token", {"text": "x"})
        states(sync).finished(job_id, {})
        pub.publish(job_id, "done", {"status": "finished"})
        assert await reader.ended() == []
        assert reader.status == 200
        # the browser's EventSource reconnects with the same id: 204 stops it
        again = Reader(base, job_id, last_event_id=999)
        assert await again.ended() == []
        assert again.status == 204
        sync.close()
