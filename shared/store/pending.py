"""Results the store could not take (down, disk full), kept in Redis until a worker writes
them: a set of job ids plus, per job, a hash with the result's JSON and its MP3."""

from __future__ import annotations

import redis

from shared import redis_names as names
from shared.jobstate import replace_result
from shared.store.base import ResultStore, StoredResult


class PendingWrites:
    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def keep(self, result: StoredResult, audio: bytes | None = None) -> None:
        key = names.pending_store_write(result.job_id)
        fields: dict[str, str | bytes] = {"result": result.model_dump_json()}
        if audio is not None:
            fields["audio"] = audio
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl_s)
            pipe.sadd(names.PENDING_STORE_WRITES, result.job_id)
            pipe.execute()

    def job_ids(self) -> list[str]:
        members = self.client.smembers(names.PENDING_STORE_WRITES)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def drain(self, store: ResultStore, limit: int) -> int:
        """Write up to `limit` kept results to `store`; returns how many were written. The
        store's error propagates (it is still down: the rest waits for the next drain)."""
        written = 0
        for job_id in self.job_ids()[:limit]:
            key = names.pending_store_write(job_id)
            kept = self.client.hgetall(key)
            if kept:
                audio = kept.get(b"audio")
                result = StoredResult.model_validate_json(kept[b"result"])
                store.save(result, audio if isinstance(audio, bytes) else None)
                if result.status == "finished":
                    replace_result(self.client, job_id, result.model_dump_json())
                written += 1
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.srem(names.PENDING_STORE_WRITES, job_id)
                pipe.execute()
        return written
