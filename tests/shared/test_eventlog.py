"""Event publishing and replay on a real Redis: every event once, in order, late or not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aredis

from shared import redis_names as names
from shared.eventlog import EventHub, EventPublisher, follow, replay
from shared.events import JobEvent

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
