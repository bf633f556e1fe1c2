"""Publish a job's events (numbered, logged for replay, then broadcast) and read them back.

Publishing is one Lua call: take the next number, append to the job's Redis Stream (capped,
with a TTL), publish on its channel. A reader subscribes first, then replays the Stream,
then follows the channel, dropping what it has already seen: late or reconnecting clients
get every event exactly once and in order.

Pub/sub drops what is published while a subscriber is disconnected, so when the gateway's
shared subscription is made again (Redis restarted, the connection dropped), every reader
replays the Stream again from its last event before following live events again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aredis
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from shared import defaults as d
from shared import redis_names as names
from shared.events import EventType, JobEvent

log = logging.getLogger(__name__)

# What a lost Redis connection raises (redis-py's own errors, or the socket's).
DISCONNECTED = (redis.ConnectionError, redis.TimeoutError, OSError)

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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def replay(client: aredis.Redis, job_id: str, after: int = 0) -> list[JobEvent]:
    """Every logged event numbered above `after`."""
    entries = await client.xrange(names.events_log(job_id)) or []
    events = [_decode(fields[b"e"]) for _, fields in entries if fields]
    return [e for e in events if e.seq > after]


class Resync:
    """Put in a listener's queue when the hub subscribed again after a lost connection:
    live events published meanwhile were dropped, so the reader catches up from the log."""


RESYNC = Resync()


def _still_away(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.info("event hub: Redis still away (%s)", exc)


class EventHub:
    """One Redis subscription per process, shared by every reader of every job: 200 clients
    on one job cost one channel subscription, not 200 connections.

    It outlives Redis outages: when reading fails it subscribes every channel again (with
    backoff), and a channel confirmed a second time (after our reconnect or redis-py's own)
    tells its listeners to catch up (`RESYNC`)."""

    def __init__(
        self,
        client: aredis.Redis,
        reconnect_min_s: float = d.EVENT_HUB_RECONNECT_MIN_S,
        reconnect_max_s: float = d.EVENT_HUB_RECONNECT_MAX_S,
    ) -> None:
        self.client = client
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.reconnects = 0  # times the subscription was made again (after a lost connection)
        self._pubsub = client.pubsub()
        self._listeners: dict[str, set[asyncio.Queue[JobEvent | Resync]]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._asked: dict[str, float] = {}  # when SUBSCRIBE was last sent, per channel
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and start reading; with Redis away, keep trying in the background."""
        self._confirmed[names.HUB_IDLE_CHANNEL] = asyncio.Event()
        try:
            await self._pubsub.subscribe(names.HUB_IDLE_CHANNEL)
            connected = True
        except DISCONNECTED as exc:
            log.warning("event hub: no Redis yet (%s); subscribing in the background", exc)
            connected = False
        self._reader = asyncio.create_task(self._run(connected))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        with suppress(*DISCONNECTED):
            await self._pubsub.aclose()

    async def _run(self, connected: bool) -> None:
        while True:
            if connected:
                try:
                    await self._read()
                except DISCONNECTED as exc:
                    name = type(exc).__name__
                    log.warning("event hub lost Redis (%s: %s); subscribing again", name, exc)
            await self._subscribe_again()
            connected = True

    async def _subscribe_again(self) -> None:
        """A new connection subscribed to every channel that has listeners; retried with
        backoff for as long as Redis is away."""
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(initial=self.reconnect_min_s, max=self.reconnect_max_s),
            retry=retry_if_exception_type(DISCONNECTED),
            before_sleep=_still_away,
        )
        async for attempt in retrying:
            with attempt:
                async with self._lock:
                    with suppress(*DISCONNECTED):
                        await self._pubsub.aclose()
                    self._pubsub = self.client.pubsub()
                    await self._pubsub.subscribe(names.HUB_IDLE_CHANNEL, *self._listeners)
        log.warning("event hub subscribed again to %d job channels", len(self._listeners))

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = _text(message["channel"])
            if message["type"] == "subscribe" and channel in self._confirmed:
                confirmed = self._confirmed[channel]
                if confirmed.is_set():  # subscribed again: events may have been missed
                    for queue in self._listeners.get(channel, ()):
                        queue.put_nowait(RESYNC)
                    if channel == names.HUB_IDLE_CHANNEL:
                        self.reconnects += 1
                confirmed.set()
            elif message["type"] == "message":
                event = _decode(message["data"])
                for queue in list(self._listeners.get(channel, ())):
                    queue.put_nowait(event)

    async def _subscribe(self, channel: str, confirmed: asyncio.Event) -> None:
        """Until Redis confirms: ask, and ask again when no answer came for a while (the
        connection may have dropped before the request or its answer went through)."""
        while not confirmed.is_set():
            async with self._lock:
                due = time.monotonic() - self._asked.get(channel, -1e9) >= self.reconnect_max_s
                if due and not confirmed.is_set():
                    self._asked[channel] = time.monotonic()
                    with suppress(*DISCONNECTED):
                        await self._pubsub.subscribe(channel)
            with suppress(TimeoutError):
                await asyncio.wait_for(confirmed.wait(), self.reconnect_max_s)

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[asyncio.Queue[JobEvent | Resync]]:
        """A queue of the job's live events (and `RESYNC`s); Redis has confirmed the
        subscription on entry."""
        channel = names.events_channel(job_id)
        queue: asyncio.Queue[JobEvent | Resync] = asyncio.Queue()
        async with self._lock:
            if channel not in self._listeners:
                self._listeners[channel] = set()
                self._confirmed[channel] = asyncio.Event()
            self._listeners[channel].add(queue)
            confirmed = self._confirmed[channel]
        try:
            await self._subscribe(channel, confirmed)
            yield queue
        finally:
            async with self._lock:
                self._listeners[channel].discard(queue)
                if not self._listeners[channel]:
                    del self._listeners[channel], self._confirmed[channel]
                    self._asked.pop(channel, None)
                    with suppress(*DISCONNECTED):  # a new connection will not subscribe it
                        await self._pubsub.unsubscribe(channel)


# Asked when a reader had to catch up after a lost subscription: `settle(last, lost)` gives
# the events that end the stream (after event `last`) when the job is over, or None while it
# may still produce events. `lost`: Redis lost the job's log, so only its outcome can be told.
Settle = Callable[[int, bool], Awaitable[list[JobEvent] | None]]


@dataclass
class _Log:
    epoch: str
    counter: int
    events: list[JobEvent]


async def _read_log(client: aredis.Redis, job_id: str) -> _Log:
    """The job's log, its counter and Redis's epoch (set here if Redis has none), at once."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(names.EPOCH, uuid.uuid4().hex, nx=True)
        pipe.get(names.EPOCH)
        pipe.get(names.events_seq(job_id))
        pipe.xrange(names.events_log(job_id))
        _, epoch, counter, entries = await pipe.execute()
    events = [_decode(fields[b"e"]) for _, fields in entries or [] if fields]
    return _Log(_text(epoch), int(counter or 0), events)


@dataclass
class _Cursor:
    """Where one reader is in one job's events."""

    client: aredis.Redis
    job_id: str
    last: int  # the reader has every event up to this number
    settle: Settle | None
    seen: int = 0  # the highest number this reader got from Redis (not from Last-Event-ID)
    epoch: str | None = None

    def lost(self) -> JobEvent:
        detail = (
            "Redis lost this job's events (it restarted without its data): "
            f"GET /queue/{self.job_id} tells the job's outcome"
        )
        return JobEvent(
            seq=self.last + 1, type="error", data={"error": "events_lost", "detail": detail}
        )

    async def catch_up(self, resynced: bool) -> tuple[list[JobEvent], bool]:
        """The logged events after `last`, and whether they end the stream. Raises
        DISCONNECTED (nothing consumed) when Redis does not answer."""
        log_ = await _read_log(self.client, self.job_id)
        self.epoch = self.epoch or log_.epoch
        if log_.epoch != self.epoch or log_.counter < self.seen:
            ending = await self.settle(self.last, True) if self.settle else None
            return (ending if ending is not None else [self.lost()]), True
        owed, last, ended = [], self.last, False
        for event in log_.events:
            if event.seq > last:
                owed.append(event)
                last = event.seq
            if event.terminal:  # also one at or below Last-Event-ID: the stream ends
                ended = True
                break
        if not ended and resynced and self.settle is not None:
            ending = await self.settle(last, False)  # over, but its end never logged?
            if ending is not None:
                owed += [e for e in ending if e.seq > last]
                ended = True
        if owed:
            self.last = self.seen = owed[-1].seq
        return owed, ended


async def follow(
    hub: EventHub,
    job_id: str,
    after: int = 0,
    idle_timeout_s: float = 1.0,
    settle: Settle | None = None,
) -> AsyncIterator[JobEvent | None]:
    """Replay then live; yields None every `idle_timeout_s` without an event (for pings
    and disconnect checks). Ends after a terminal event, also one numbered at or below
    `after` (a reader whose Last-Event-ID is past the end still sees its stream end).

    After a lost subscription it replays the log from its last event, then asks `settle`
    whether the job ended meanwhile. When Redis lost the log (its epoch changed, or the job's
    counter went back below what this reader got), it ends with what `settle` says, or with
    an `error` event `events_lost`."""
    async with hub.listen(job_id) as live:
        cursor = _Cursor(hub.client, job_id, after, settle)
        pending: bool | None = False  # a catch-up owed: False the first, True after a resync
        while True:
            if pending is not None:
                try:
                    owed, ended = await cursor.catch_up(resynced=pending)
                    pending = None
                except DISCONNECTED:
                    owed, ended = [], False  # Redis is away: try again after the next wait
                for event in owed:
                    yield event
                if ended:
                    return
            try:
                item = await asyncio.wait_for(live.get(), idle_timeout_s)
            except TimeoutError:
                yield None
                continue
            if isinstance(item, Resync):
                pending = True
                continue
            if pending is not None:
                continue  # the catch-up still owed reads it from the log, in order
            if item.seq > cursor.last:
                cursor.last = cursor.seen = item.seq
                yield item
            if item.terminal:
                return
