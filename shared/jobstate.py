"""The one owner of a job's state: a small Redis hash (status, stage, progress, error, result
JSON), one TTL policy (`JobSettings`), one rule for when a job is over.

The gateway writes `queued` when it admits a job; the worker writes the rest; status polling
reads the hash in one round trip, and the store answers once Redis has forgotten the job.
"""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio as aredis

from shared import redis_names as names
from shared.api import JobState
from shared.settings import JobSettings

TERMINAL: frozenset[JobState] = frozenset({"finished", "failed"})
_TEXT = frozenset({"status", "stage", "error"})  # stored as they are; the rest as JSON


def is_terminal(status: str | None) -> bool:
    """A job that is over: nothing more will happen to it (its stream ends)."""
    return status in TERMINAL


def ttl_s(policy: JobSettings, status: JobState) -> int:
    """How long Redis keeps a job's state: a live job until it could no longer be running
    (queued time is unbounded, so as long as a failure is kept), an ended one as long as the
    policy keeps its kind of result."""
    if status == "finished":
        return policy.result_ttl_s
    if status == "failed":
        return policy.failure_ttl_s
    return policy.timeout_s + policy.failure_ttl_s


def _encode(status: JobState, fields: dict[str, Any]) -> dict[str, str]:
    values = {"status": status, **fields}
    return {k: str(v) if k in _TEXT else json.dumps(v) for k, v in values.items()}


def _decode(raw: dict[Any, Any]) -> dict[str, Any] | None:
    if not raw:
        return None
    state: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        text = value.decode() if isinstance(value, bytes) else value
        state[name] = text if name in _TEXT else json.loads(text)
    return state


class JobStates:
    """Every write of a job's state goes through here (synchronous Redis client)."""

    def __init__(self, client: redis.Redis, policy: JobSettings) -> None:
        self.client = client
        self.policy = policy

    def _write(self, job_id: str, status: JobState, **fields: Any) -> None:
        key = names.job_meta(job_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=_encode(status, fields))  # type: ignore[arg-type]
            pipe.expire(key, ttl_s(self.policy, status))
            pipe.execute()

    def queued(self, job_id: str) -> None:
        self._write(job_id, "queued", stage="queued", progress=0.0)

    def started(self, job_id: str, stage: str, progress: float) -> None:
        self._write(job_id, "started", stage=stage, progress=progress)

    def finished(self, job_id: str, result: dict[str, Any]) -> None:
        self._write(job_id, "finished", stage="done", progress=1.0, result=result)

    def failed(self, job_id: str, reason: str) -> None:
        self._write(job_id, "failed", error=reason)

    def forget(self, job_id: str) -> None:
        """Drop the state: the store's record answers for the job from now on."""
        self.client.delete(names.job_meta(job_id))

    def read(self, job_id: str) -> dict[str, Any] | None:
        return _decode(self.client.hgetall(names.job_meta(job_id)))

    def status(self, job_id: str) -> JobState | None:
        state = self.read(job_id)
        return state["status"] if state else None


# A finished job's result after its late store write (no `store: failed` outcome any more);
# never brings an expired state back.
_REPLACE_RESULT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'result', ARGV[1])
end
"""


def replace_result(client: redis.Redis, job_id: str, result_json: str) -> None:
    client.eval(_REPLACE_RESULT, 1, names.job_meta(job_id), result_json)


async def read_state(client: aredis.Redis, job_id: str) -> dict[str, Any] | None:
    """The job's state hash, decoded (None once Redis has forgotten the job)."""
    return _decode(await client.hgetall(names.job_meta(job_id)))
