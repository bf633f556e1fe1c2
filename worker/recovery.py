"""Jobs whose process lost Redis or died: numbering that survives an empty Redis, and the
sweep that records jobs lost with their worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.utils import as_text, parse_composite_key
from rq.worker_registration import clean_worker_registry

from shared import defaults as d
from shared import redis_names as names
from shared.eventlog import EventPublisher
from shared.events import EventType
from shared.jobstate import JobStates, is_terminal
from shared.settings import JobSettings

log = logging.getLogger("pulse.worker")


class ResumingPublisher(EventPublisher):
    """Numbers a job's events on from the last one this process published, also when Redis
    came back empty (restarted without persistence): readers drop numbers they have seen,
    so a restart at 1 would hide the rest of the job, its end included."""

    def __init__(
        self, client: redis.Redis, policy: JobSettings, max_events: int = d.EVENT_LOG_MAX_EVENTS
    ) -> None:
        super().__init__(client, policy.event_log_ttl_s, max_events)
        self.client = client
        self.states = JobStates(client, policy)
        self._last: dict[str, int] = {}
        self._status: dict[str, dict[str, Any]] = {}

    def publish(self, job_id: str, etype: EventType, data: dict[str, Any]) -> int:
        seq = super().publish(job_id, etype, data)
        last = self._last.get(job_id, 0)
        if seq <= last:
            log.warning("job %s: Redis lost its events after #%d; numbering on", job_id, last)
            self._resume(job_id, last)
            seq = super().publish(job_id, etype, data)
        self._last[job_id] = seq
        if etype == "status":
            self._status[job_id] = data
        return seq

    def _resume(self, job_id: str, last: int) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(names.events_log(job_id))  # holds only the misnumbered copy
            pipe.set(names.events_seq(job_id), last, ex=self.ttl_s)
            pipe.execute()
        if self.states.status(job_id) is None:  # a final state is never undone
            status = self._status.get(job_id, {})
            self.states.started(
                job_id, status.get("stage", "summarizing"), status.get("progress", 0.0)
            )


def job_ended(connection: redis.Redis, job_id: str) -> bool:
    """Whether the job's state in Redis is final (finished or failed)."""
    return is_terminal(JobStates(connection, JobSettings()).status(job_id))


def reap_lost_jobs(
    connection: redis.Redis,
    queue: Queue,
    me: str,
    ttl_s: int,
    record_lost: Callable[[Job, str], None],
) -> list[str]:
    """Record as lost each started job whose worker stopped heart-beating (killed together
    with its work horse, as a container kill does), and forget dead workers' registrations.

    Skipped while Redis has been up for less than `ttl_s`: after a restart, workers that
    lived through it have not heart-beaten yet."""
    uptime = int(connection.info("server")["uptime_in_seconds"])
    if uptime < ttl_s:
        return []
    registry = queue.started_job_registry
    lost = []
    entries = connection.zrange(registry.key, 0, -1, withscores=True)
    for raw, score in cast(list[tuple[bytes, float]], entries):
        composite = as_text(raw)
        job_id, execution_id = parse_composite_key(composite)
        execution = Execution(execution_id, job_id, connection)
        owner = connection.hget(execution.key, "worker_name")
        name = as_text(owner) if owner else None
        if name == me or (name and connection.exists(Worker.redis_worker_namespace_prefix + name)):
            continue
        if not connection.zrem(registry.key, composite):
            continue  # another worker took it
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        if job.get_status() != JobStatus.STARTED:
            continue
        reason = (
            f"the job was lost with its worker {name or '(unknown)'}: no heartbeat for "
            f"{ttl_s} s (killed, or its machine stopped)"
        )
        log.warning("job %s: %s", job_id, reason)
        try:
            record_lost(job, reason)
        except Exception:
            connection.zadd(registry.key, {composite: score})  # the next sweep tries again
            raise
        with connection.pipeline() as pipe:
            record_job_failure(job, reason, pipe)  # RQ's own record: failed, not started
            pipe.delete(execution.key)
            pipe.execute()
        lost.append(job_id)
    clean_worker_registry(queue)
    return lost
