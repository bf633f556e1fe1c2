"""The worker process: RQ's worker, made to ride out Redis outages and to notice workers
that died with their job."""

from __future__ import annotations

import logging
import signal
import time
from contextlib import suppress
from types import FrameType
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.worker import WorkerStatus
from rq.worker_registration import WORKERS_BY_QUEUE_KEY, register
from tenacity import Retrying, retry_if_exception_type, wait_exponential

from shared import defaults as d
from shared import redis_names as names
from shared.redis_retry import retry_for
from shared.settings import WorkerSettings
from worker.jobs import StoreHandle, drain_pending, on_horse_killed, record_lost
from worker.recovery import job_ended, reap_lost_jobs

log = logging.getLogger("pulse.worker")
OUTAGE = (redis.ConnectionError, redis.TimeoutError)


def redis_client(settings: WorkerSettings) -> redis.Redis:
    """Every command (the work horse's too: it inherits this client) retries connection
    failures with backoff for `redis_retry_s`, so a Redis restart only pauses a job."""
    return redis.Redis.from_url(
        settings.redis_url,
        retry=retry_for(settings.redis_retry_s),
        socket_connect_timeout=d.REDIS_CONNECT_TIMEOUT_S,
    )


def until_redis_answers() -> Retrying:
    """Try again, forever, with backoff, while Redis does not answer."""
    return Retrying(
        retry=retry_if_exception_type(OUTAGE),
        wait=wait_exponential(multiplier=d.REDIS_BACKOFF_FIRST_S, max=d.REDIS_BACKOFF_MAX_S),
        before_sleep=lambda state: log.warning(
            "Redis does not answer (%s); trying again", state.outcome and state.outcome.exception()
        ),
    )


class PulseWorker(Worker):
    """RQ's worker with a short heartbeat (`heartbeat_ttl_s`, not RQ's TTL + 60 s) that
    registers the worker again when Redis lost it; each heartbeat also sweeps for jobs lost
    with their worker and writes results that waited for the store; after each job, an
    outcome its horse could not record (Redis was unreachable) is recorded once Redis
    answers."""

    def __init__(self, queue: Queue, settings: WorkerSettings) -> None:
        super().__init__(
            [queue],
            connection=queue.connection,
            worker_ttl=settings.heartbeat_ttl_s,
            job_monitoring_interval=max(1, settings.heartbeat_ttl_s // 4),
            work_horse_killed_handler=on_horse_killed,
        )
        self.max_connection_wait_time = d.REDIS_BACKOFF_MAX_S
        self.settings = settings
        self.stopping = False
        self._swept = 0.0
        self._lost_redis = False

    @property
    def dequeue_timeout(self) -> int:
        return int(self.job_monitoring_interval)  # wake to heart-beat well inside the TTL

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        super().request_stop(signum, frame)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(self.worker_ttl, pipeline)
        if pipeline is None and not self.is_horse:
            self._after_heartbeat()

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except OUTAGE as exc:  # the horse waits Redis out on its own
            self._lost_redis = True
            log.warning("job %s: no heartbeat, Redis does not answer: %s", job.id, exc)
            return
        self._after_heartbeat()

    def _after_heartbeat(self) -> None:
        try:
            self._ensure_registered()
            now = time.monotonic()
            if now - self._swept >= self.job_monitoring_interval:
                self._swept = now
                queue = self.queues[0]
                reap_lost_jobs(self.connection, queue, self.name, self.worker_ttl, record_lost)
                if self.connection.scard(names.PENDING_STORE_WRITES):
                    self._write_pending()
        except StopRequested:
            raise
        except Exception:
            log.exception("worker %s: the sweep for lost jobs failed", self.name)

    def _write_pending(self) -> None:
        """Results the store could not take wait in Redis: an idle worker writes them once
        the store answers (jobs that store theirs also do)."""
        store = StoreHandle()
        try:
            drain_pending(self.connection, store, self.settings)
        finally:
            store.close()

    def _ensure_registered(self) -> None:
        """Register again when Redis forgot this worker: restarted empty (no persistence), or
        its key expired while Redis was down (a heartbeat alone re-creates a bare key)."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.sismember(WORKERS_BY_QUEUE_KEY % self.queues[0].name, self.key)
            pipe.hexists(self.key, "birth")
            if all(pipe.execute()):
                return
        log.warning("worker %s: Redis forgot this worker; registering again", self.name)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            register(self, pipe)
            pipe.expire(self.key, self.worker_ttl)
            pipe.execute()

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._lost_redis = False
        execution: Execution | None = None
        try:
            execution = self.prepare_execution(job)
            self.fork_work_horse(job, queue)
            self.monitor_work_horse(job, queue, execution)
        except OUTAGE as exc:
            self._lost_redis = True
            log.warning("job %s: Redis does not answer: %s", job.id, exc)
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0
        for attempt in until_redis_answers():
            with attempt:
                self._settle(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def _settle(self, job: Job, queue: Queue, execution: Execution | None) -> None:
        """The horse is gone: record the job lost unless its outcome is recorded."""
        if job_ended(self.connection, job.id):
            return
        reason = (
            "Redis was unreachable while the job ran, so its outcome was lost"
            if self._lost_redis
            else "the job ended without recording its outcome (Redis lost it or was unreachable)"
        )
        log.warning("job %s: %s", job.id, reason)
        record_lost(job, reason)
        if execution is None or not self.connection.exists(job.key):
            return  # Redis restarted empty: RQ has nothing left to update
        if job.get_status() == JobStatus.STARTED:
            self.handle_job_failure(job, queue, exc_string=reason, execution=execution)


def run(settings: WorkerSettings) -> None:
    """Work until asked to stop. When Redis stays away longer than RQ's loop copes with,
    wait for it with backoff and carry on with a fresh worker."""
    connection = redis_client(settings)
    queue = Queue(names.QUEUE, connection=connection)
    while True:
        worker = _new_worker(queue, settings)
        try:
            worker.work(with_scheduler=False)
        except OUTAGE as exc:
            log.warning("worker %s: Redis does not answer (%s); starting again", worker.name, exc)
            with suppress(Exception):
                worker.unsubscribe()
        if worker.stopping:
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # between workers, with no job
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(d.REDIS_BACKOFF_MAX_S)


def _new_worker(queue: Queue, settings: WorkerSettings) -> PulseWorker:
    for attempt in until_redis_answers():
        with attempt:
            return PulseWorker(queue, settings)
    raise AssertionError("unreachable")
