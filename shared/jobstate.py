"""A job's status in one small Redis hash (status, stage, progress, error, result JSON),
written by the gateway and the worker, read by status polling in one round trip."""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio as aredis

from shared import redis_names as names
from shared.api import JobState

_TEXT = frozenset({"status", "stage", "error"})  # stored as they are; the rest as JSON


def _encode(status: JobState, fields: dict[str, Any]) -> dict[str, str]:
    values = {"status": status, **fields}
    return {k: str(v) if k in _TEXT else json.dumps(v) for k, v in values.items()}


def write_state(
    client: redis.Redis, job_id: str, ttl_s: int, status: JobState, **fields: Any
) -> None:
    key = names.job_meta(job_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=_encode(status, fields))  # type: ignore[arg-type]
        pipe.expire(key, ttl_s)
        pipe.execute()


async def awrite_state(
    client: aredis.Redis, job_id: str, ttl_s: int, status: JobState, **fields: Any
) -> None:
    key = names.job_meta(job_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=_encode(status, fields))  # type: ignore[arg-type]
        pipe.expire(key, ttl_s)
        await pipe.execute()


async def read_state(client: aredis.Redis, job_id: str) -> dict[str, Any] | None:
    raw = await client.hgetall(names.job_meta(job_id))
    if not raw:
        return None
    state: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        state[name] = _text(value) if name in _TEXT else json.loads(value)
    return state


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
