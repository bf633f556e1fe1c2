"""Event publishing and replay on a real Redis: every event once, in order, late or not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from shared import redis_names as names
from shared.eventlog import EventHub, EventPublisher, follow, replay
from shared.events import JobEvent
from tests.redis_fixtures import RedisServer
from tests.servers import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def aclient(redis_url: str) -> AsyncIterator[EventHub]:
    client = aredis.Redis.from_url(redis_url)
    hub = EventHub(client)
    await hub.start()
    yield hub
    await hub.close()
    await client.aclose()


def job() -> str:
    return f"test-{uuid.uuid4().hex}"


async def collect(client: EventHub, job_id: str, after: int = 0) -> list[JobEvent]:
    events = []
    async for event in follow(client, job_id, after, idle_timeout_s=0.05):
        if event is not None:
            events.append(event)
    return events


async def test_late_subscriber_gets_everything_then_the_stream_ends(
    redis_client: redis.Redis,
    aclient: EventHub,
) -> None:
    job_id = job()
    pub = EventPublisher(redis_client)
    texts = ["Hello", " wörld", ' "quoted"', "\\back\nslash", "✓"]
    for text in texts:
        pub.publish(job_id, "token", {"text": text})
    pub.publish(job_id, "done", {"ok": True})
    events = await asyncio.wait_for(collect(aclient, job_id), 10)
    assert [e.seq for e in events] == list(range(1, 7))
    assert [e.data["text"] for e in events[:-1]] == texts
    assert events[-1].type == "done"


async def test_last_event_id_resumes_after_it(
    redis_client: redis.Redis,
    aclient: EventHub,
) -> None:
    job_id = job()
    pub = EventPublisher(redis_client)
    for i in range(5):
        pub.publish(job_id, "token", {"text": str(i)})
    pub.publish(job_id, "error", {"error": "boom"})
    events = await asyncio.wait_for(collect(aclient, job_id, after=3), 10)
    assert [e.seq for e in events] == [4, 5, 6]
    assert [e.seq for e in await replay(aclient.client, job_id, after=5)] == [6]


async def test_live_and_replayed_events_arrive_once_each_in_order(
    redis_client: redis.Redis,
    aclient: EventHub,
) -> None:
    job_id = job()
    pub = EventPublisher(redis_client)
    for i in range(50):
        pub.publish(job_id, "token", {"text": str(i)})
    reader = asyncio.create_task(collect(aclient, job_id))

    async def produce() -> None:
        for i in range(50, 300):
            pub.publish(job_id, "token", {"text": str(i)})
            if i % 25 == 0:
                await asyncio.sleep(0.01)
        pub.publish(job_id, "done", {})

    await produce()
    events = await asyncio.wait_for(reader, 20)
    assert [e.seq for e in events] == list(range(1, 302))
    assert [e.data.get("text") for e in events[:-1]] == [str(i) for i in range(300)]


async def test_many_readers_of_one_job_share_one_subscription(
    redis_client: redis.Redis,
    aclient: EventHub,
) -> None:
    job_id = job()
    pub = EventPublisher(redis_client)
    readers = [asyncio.create_task(collect(aclient, job_id)) for _ in range(50)]
    await asyncio.sleep(0.2)
    channels = redis_client.pubsub_numsub(names.events_channel(job_id))
    assert channels[0][1] == 1  # one Redis subscriber for all fifty readers
    for i in range(20):
        pub.publish(job_id, "token", {"text": str(i)})
    pub.publish(job_id, "done", {})
    results = await asyncio.wait_for(asyncio.gather(*readers), 20)
    assert all([e.seq for e in r] == list(range(1, 22)) for r in results)
    assert redis_client.pubsub_numsub(names.events_channel(job_id))[0][1] == 0


async def test_log_and_counter_expire_and_the_log_is_capped(
    redis_client: redis.Redis,
) -> None:
    job_id = job()
    pub = EventPublisher(redis_client, ttl_s=60, max_events=100)
    for i in range(1000):
        pub.publish(job_id, "token", {"text": str(i)})
    assert 0 < redis_client.ttl(names.events_log(job_id)) <= 60
    assert 0 < redis_client.ttl(names.events_seq(job_id)) <= 60
    assert redis_client.xlen(names.events_log(job_id)) < 300  # MAXLEN ~ trims in blocks
    # Numbering continues where a failed attempt left off.
    assert pub.publish(job_id, "status", {"stage": "summarizing"}) == 1001


# --- a Redis outage (a private redis-server, stopped and started again on its port) ---------


@asynccontextmanager
async def outage_hub(server: RedisServer) -> AsyncIterator[EventHub]:
    client = aredis.Redis.from_url(server.url)
    hub = EventHub(client, reconnect_min_s=0.05, reconnect_max_s=0.5)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()
        await client.aclose()


class Reader:
    """A reader following a job in the background; `got` fills as events arrive."""

    def __init__(self, hub: EventHub, job_id: str, after: int = 0) -> None:
        self.got: list[JobEvent] = []
        self.arrived = asyncio.Event()
        self.task = asyncio.create_task(self._run(hub, job_id, after))

    async def _run(self, hub: EventHub, job_id: str, after: int) -> None:
        async for event in follow(hub, job_id, after, idle_timeout_s=0.05):
            if event is not None:
                self.got.append(event)
                self.arrived.set()

    async def has(self, n: int) -> None:
        while len(self.got) < n:
            self.arrived.clear()
            await self.arrived.wait()


async def subscribed_again(server: RedisServer, job_id: str) -> None:
    """The hub is subscribed to the job's channel on the restarted server."""
    client = redis.Redis.from_url(server.url)
    channel = names.events_channel(job_id)
    try:
        await asyncio.to_thread(wait_until, lambda: client.pubsub_numsub(channel)[0][1], 30)
    finally:
        client.close()


async def test_readers_get_every_event_once_in_order_after_redis_restarts(
    tmp_path: Path,
) -> None:
    """Regression: the hub's subscription task died on "Connection refused" and readers got
    only keep-alives until the gateway restarted. Events published while the hub was away
    (pub/sub drops them) come from the log; later ones live."""
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        async with outage_hub(server) as hub:
            job_id = job()
            pub = EventPublisher(redis.Redis.from_url(server.url))
            for i in range(3):
                pub.publish(job_id, "token", {"text": str(i)})
            reader = Reader(hub, job_id)
            await asyncio.wait_for(reader.has(3), 10)
            await asyncio.to_thread(server.restart)  # the log survives (append-only file)
            for i in range(3, 6):  # likely before the hub is back: pub/sub drops these
                pub.publish(job_id, "token", {"text": str(i)})
            await asyncio.wait_for(subscribed_again(server, job_id), 30)
            for i in range(6, 9):
                pub.publish(job_id, "token", {"text": str(i)})
            pub.publish(job_id, "done", {})
            await asyncio.wait_for(reader.task, 30)
            assert [e.seq for e in reader.got] == list(range(1, 11))
            assert [e.data.get("text") for e in reader.got[:-1]] == [str(i) for i in range(9)]
            assert reader.got[-1].type == "done"
            # and a reader joining now is served as before
            late = await asyncio.wait_for(collect(hub, job_id, after=8), 10)
            assert [e.seq for e in late] == [9, 10]
    finally:
        server.stop()


async def test_readers_catch_up_when_the_subscription_connection_is_killed(
    redis_server: RedisServer,
) -> None:
    """Redis stays up but drops the hub's connection (CLIENT KILL): redis-py reconnects and
    subscribes again by itself, without an error; events published in between came only
    through the log."""
    client = aredis.Redis.from_url(redis_server.db(0))
    hub = EventHub(client, reconnect_min_s=0.05, reconnect_max_s=0.5)
    await hub.start()
    sync = redis.Redis.from_url(redis_server.db(0))
    try:
        job_id = job()
        pub = EventPublisher(sync)
        pub.publish(job_id, "token", {"text": "0"})
        reader = Reader(hub, job_id)
        await asyncio.wait_for(reader.has(1), 10)
        for round_ in range(3):
            before = hub.reconnects
            sync.client_kill_filter(_type="pubsub")
            for i in range(5):  # while the hub reconnects: pub/sub drops what it misses
                pub.publish(job_id, "token", {"text": f"{round_}.{i}"})
            await asyncio.to_thread(wait_until, lambda: hub.reconnects > before, 30)  # noqa: B023
        pub.publish(job_id, "done", {})
        await asyncio.wait_for(reader.task, 30)
        assert [e.seq for e in reader.got] == list(range(1, 18))
    finally:
        sync.close()
        await hub.close()
        await client.aclose()


async def test_a_hub_started_while_redis_is_down_serves_readers_once_it_is_up(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")  # not started yet
    try:
        async with outage_hub(server) as hub:
            server.start()
            job_id = job()
            pub = EventPublisher(redis.Redis.from_url(server.url))
            pub.publish(job_id, "status", {"stage": "summarizing"})
            reader = Reader(hub, job_id)
            await asyncio.wait_for(reader.has(1), 30)
            pub.publish(job_id, "done", {})
            await asyncio.wait_for(reader.task, 30)
            assert [(e.seq, e.type) for e in reader.got] == [(1, "status"), (2, "done")]
    finally:
        server.stop()


async def test_a_job_that_ended_during_the_outage_ends_its_readers_streams(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        async with outage_hub(server) as hub:
            job_id = job()
            pub = EventPublisher(redis.Redis.from_url(server.url))
            pub.publish(job_id, "status", {"stage": "summarizing"})
            readers = [Reader(hub, job_id) for _ in range(5)]
            await asyncio.wait_for(asyncio.gather(*(r.has(1) for r in readers)), 10)
            server.stop()
            await asyncio.sleep(0.5)  # the hub notices and waits for Redis
            server.start()
            pub.publish(job_id, "token", {"text": "last words"})
            pub.publish(job_id, "error", {"error": "boom", "detail": "during the outage"})
            await asyncio.wait_for(asyncio.gather(*(r.task for r in readers)), 30)
            for reader in readers:
                assert [(e.seq, e.type) for e in reader.got] == [
                    (1, "status"),
                    (2, "token"),
                    (3, "error"),
                ]
    finally:
        server.stop()


async def test_readers_end_with_events_lost_when_redis_restarts_without_its_data(
    tmp_path: Path,
) -> None:
    """No persistence: the log, the counter and the job's state are gone, and a job that
    goes on numbers its events from 1 again. Readers cannot be resumed: they end with an
    `error` event `events_lost` (the gateway first looks for the job's outcome, see
    tests/gateway/test_events_outage.py), never with events of the new numbering."""
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        async with outage_hub(server) as hub:
            job_id = job()
            pub = EventPublisher(redis.Redis.from_url(server.url))
            for i in range(3):
                pub.publish(job_id, "token", {"text": str(i)})
            readers = [Reader(hub, job_id) for _ in range(3)]
            await asyncio.wait_for(asyncio.gather(*(r.has(3) for r in readers)), 10)
            await asyncio.to_thread(server.restart)
            for i in range(5):  # the job goes on: numbers 1.. again
                pub.publish(job_id, "token", {"text": f"new {i}"})
            await asyncio.wait_for(asyncio.gather(*(r.task for r in readers)), 30)
            for reader in readers:
                assert [e.seq for e in reader.got] == [1, 2, 3, 4]
                assert reader.got[-1].type == "error"
                assert reader.got[-1].data["error"] == "events_lost"
    finally:
        server.stop()


async def test_last_event_id_beyond_the_end_still_ends_when_the_job_ends(
    redis_client: redis.Redis,
    aclient: EventHub,
) -> None:
    """Regression (issue 8, 2.8): a live stream opened with a Last-Event-ID past the last
    event dropped every later event, the terminal one too, and never ended."""
    job_id = job()
    pub = EventPublisher(redis_client)
    pub.publish(job_id, "status", {"stage": "summarizing"})
    reader = asyncio.create_task(collect(aclient, job_id, after=999))
    await asyncio.sleep(0.3)
    pub.publish(job_id, "token", {"text": "x"})
    pub.publish(job_id, "done", {})
    assert await asyncio.wait_for(reader, 10) == []
    # replayed: a terminal event at or below Last-Event-ID ends the stream as well
    assert await asyncio.wait_for(collect(aclient, job_id, after=999), 10) == []
