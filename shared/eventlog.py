"""Publish a job's events (numbered, logged for replay, then broadcast) and read them back.

Publishing is one Lua call: take the next number, append to the job's Redis Stream (capped,
with a TTL), publish on its channel. A reader subscribes first, then replays the Stream,
then follows the channel, dropping what it has already seen: late or reconnecting clients
get every event exactly once and in order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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


async def follow(
    client: aredis.Redis, job_id: str, after: int = 0, idle_timeout_s: float = 1.0
) -> AsyncIterator[JobEvent | None]:
    """Replay then live; yields None every `idle_timeout_s` without an event (for pings
    and disconnect checks). Ends after a terminal event."""
    pubsub = client.pubsub()
    await pubsub.subscribe(names.events_channel(job_id))
    try:
        last = after
        for event in await replay(client, job_id, after):
            if event.seq <= last:
                continue
            last = event.seq
            yield event
            if event.terminal:
                return
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=idle_timeout_s
            )
            if message is None:
                yield None
                continue
            event = _decode(message["data"])
            if event.seq <= last:
                continue  # already replayed
            last = event.seq
            yield event
            if event.terminal:
                return
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
