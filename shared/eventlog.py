"""Publish a job's events (numbered, logged for replay, then broadcast) and read them back.

Publishing is one Lua call: take the next number, append to the job's Redis Stream (capped,
with a TTL), publish on its channel. A reader subscribes first, then replays the Stream,
then follows the channel, dropping what it has already seen: late or reconnecting clients
get every event exactly once and in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import redis
import redis.asyncio as aredis

from shared import defaults as d
from shared import redis_names as names
from shared.events import EventType, JobEvent

# Event JSON is built by string concatenation: `etype` is from a fixed set and `data` is
# JSON already, so no JSON library is needed inside Redis.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local event = '{"seq":' .. seq .. ',"type":"' .. ARGV[1] .. '","data":' .. ARGV[2] .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', event)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], event)
return seq
"""


class EventPublisher:
    """Used by the worker (synchronous redis client)."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_s: int = d.EVENT_LOG_TTL_S,
        max_events: int = d.EVENT_LOG_MAX_EVENTS,
    ) -> None:
        self._script = client.register_script(_PUBLISH)
        self.ttl_s = ttl_s
        self.max_events = max_events

    def publish(self, job_id: str, etype: EventType, data: dict[str, Any]) -> int:
        keys = [names.events_seq(job_id), names.events_log(job_id), names.events_channel(job_id)]
        args: list[str | int] = [
            etype,
            json.dumps(data, ensure_ascii=False),
            self.max_events,
            self.ttl_s,
        ]
        return int(self._script(keys=keys, args=args))


def _decode(raw: bytes | str) -> JobEvent:
    return JobEvent.model_validate_json(raw)


async def replay(client: aredis.Redis, job_id: str, after: int = 0) -> list[JobEvent]:
    """Every logged event numbered above `after`."""
    entries = await client.xrange(names.events_log(job_id)) or []
    events = [_decode(fields[b"e"]) for _, fields in entries if fields]
    return [e for e in events if e.seq > after]


class EventHub:
    """One Redis subscription per process, shared by every reader of every job: 200 clients
    on one job cost one channel subscription, not 200 connections."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._pubsub = client.pubsub()
        self._listeners: dict[str, set[asyncio.Queue[JobEvent]]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # A channel nobody publishes on keeps the connection in subscribed mode.
        await self._pubsub.subscribe("pulse:hub:idle")
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe" and channel in self._confirmed:
                self._confirmed[channel].set()
            elif message["type"] == "message":
                event = _decode(message["data"])
                for queue in list(self._listeners.get(channel, ())):
                    queue.put_nowait(event)

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[asyncio.Queue[JobEvent]]:
        """A queue of the job's live events; Redis has confirmed the subscription on entry."""
        channel = names.events_channel(job_id)
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        async with self._lock:
            if channel not in self._listeners:
                self._listeners[channel] = set()
                self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
            self._listeners[channel].add(queue)
            confirmed = self._confirmed[channel]
        await confirmed.wait()
        try:
            yield queue
        finally:
            async with self._lock:
                self._listeners[channel].discard(queue)
                if not self._listeners[channel]:
                    del self._listeners[channel], self._confirmed[channel]
                    await self._pubsub.unsubscribe(channel)


async def follow(
    hub: EventHub, job_id: str, after: int = 0, idle_timeout_s: float = 1.0
) -> AsyncIterator[JobEvent | None]:
    """Replay then live; yields None every `idle_timeout_s` without an event (for pings
    and disconnect checks). Ends after a terminal event."""
    async with hub.listen(job_id) as live:
        last = after
        for event in await replay(hub.client, job_id, after):
            if event.seq <= last:
                continue
            last = event.seq
            yield event
            if event.terminal:
                return
        while True:
            try:
                event = await asyncio.wait_for(live.get(), idle_timeout_s)
            except TimeoutError:
                yield None
                continue
            if event.seq <= last:
                continue  # already replayed
            last = event.seq
            yield event
            if event.terminal:
                return
