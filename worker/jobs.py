"""The RQ job: summary (streamed token by token), entities, audio, then the store."""

from __future__ import annotations

import json
import time
from contextlib import suppress
from typing import Any

import redis
from rq import get_current_job
from rq.job import Job

from shared import defaults as d
from shared import redis_names as names
from shared.eventlog import EventPublisher
from shared.events import EventType, Stage
from shared.jobs import JobRequest
from shared.jobstate import write_state
from shared.schemas import Entity, StructuredSummary
from shared.settings import StoreSettings, WorkerSettings
from shared.store import ResultStore, StoredResult, open_store
from worker.factory_client import FactoryClient, FactoryError
from worker.fields import StringFieldStream
from worker.recovery import ResumingPublisher, job_ended

PROGRESS: dict[Stage, float] = {
    "summarizing": 0.05,
    "entities": 0.6,
    "audio": 0.75,
    "storing": 0.9,
    "done": 1.0,
}


class JobRunner:
    def __init__(
        self,
        job: Job,
        request: JobRequest,
        factory: FactoryClient,
        store: ResultStore,
        events: EventPublisher,
        settings: WorkerSettings,
    ) -> None:
        self.settings = settings
        self._started = time.monotonic()
        self._stage: Stage | None = None
        self._stage_started = self._started
        self.first_text_ms: float | None = None  # factory request -> first summary text
        self.job = job
        self.request = request
        self.factory = factory
        self.store = store
        self.events = events

    def publish(self, etype: EventType, data: dict[str, Any]) -> None:
        self.events.publish(self.job.id, etype, data)

    def observe(self, kind: str, **fields: Any) -> None:
        """Leave a timing for the gateway's /metrics (workers run in short-lived forks)."""
        item = json.dumps({"kind": kind, **fields})
        with self.job.connection.pipeline() as pipe:
            pipe.lpush(names.OBSERVATIONS, item)
            pipe.ltrim(names.OBSERVATIONS, 0, d.OBSERVATIONS_MAX - 1)
            pipe.execute()

    def stage(self, stage: Stage) -> None:
        now = time.monotonic()
        if self._stage is not None:
            self.observe("stage", stage=self._stage, seconds=now - self._stage_started)
        self._stage, self._stage_started = stage, now
        write_state(
            self.job.connection,
            self.job.id,
            self.settings.failure_ttl_s,
            "started",
            stage=stage,
            progress=PROGRESS[stage],
        )
        self.publish("status", {"stage": stage, "progress": PROGRESS[stage]})

    def summarize(self) -> StructuredSummary:
        """Forward the summary's text as it is generated; the JSON around it stays here."""
        field = StringFieldStream("main_summary")
        asked = time.monotonic()
        for item in self.factory.stream_summary(self.request.text, self.request.style):
            if isinstance(item, str):
                text = field.feed(item)
                if text:
                    if self.first_text_ms is None:
                        self.first_text_ms = round((time.monotonic() - asked) * 1000, 1)
                    self.publish("token", {"text": text})
            else:
                assert item.structured is not None
                self.publish("summary", item.structured.model_dump(mode="json"))
                return item.structured
        raise FactoryError("the summary stream gave no result", transient=False)

    def run(self) -> StoredResult:
        req, outcomes = self.request, {}
        summary: StructuredSummary | None = None
        entities: list[Entity] | None = None
        audio: bytes | None = None
        if "summary" in req.tasks:
            self.stage("summarizing")
            summary = self.summarize()  # a failed summary fails the job
            outcomes["summary"] = "ok"
        if "entities" in req.tasks:
            self.stage("entities")
            try:
                entities = self.factory.extract(req.text, req.labels)
                outcomes["entities"] = "ok"
                self.publish("entities", {"entities": [e.model_dump() for e in entities]})
            except (FactoryError, OSError) as exc:
                outcomes["entities"] = f"failed: {exc}"
        if "audio" in req.tasks:
            self.stage("audio")
            narration = summary.main_summary if summary else req.text
            try:
                audio, engine = self.factory.audio(narration, req.voice)
                outcomes["audio"] = "ok"
                url = f"/queue/{self.job.id}/audio"
                self.publish("audio", {"url": url, "bytes": len(audio), "engine": engine})
            except (FactoryError, OSError) as exc:
                outcomes["audio"] = f"failed: {exc}"
        if all(v != "ok" for v in outcomes.values()):
            raise FactoryError("every task failed: " + "; ".join(outcomes.values()), False)
        self.stage("storing")
        result = StoredResult(
            job_id=self.job.id,
            content_key=req.content_key,
            status="finished",
            style=req.style,
            tasks=req.tasks,
            source_url=req.source_url,
            title=req.title or (summary.title if summary else None),
            summary=summary,
            entities=entities,
            has_audio=audio is not None,
            outcomes=outcomes,
        )
        self.store.save(result, audio)
        self.stage("done")
        self.observe("job", status="finished", seconds=time.monotonic() - self._started)
        write_state(
            self.job.connection,
            self.job.id,
            self.settings.result_ttl_s,
            "finished",
            stage="done",
            progress=1.0,
            result=result.model_dump(mode="json"),
        )
        timings = {"factory_first_text_ms": self.first_text_ms}
        self.publish("done", {"status": "finished", "outcomes": outcomes, "timings": timings})
        return result

    def fail(self, exc: BaseException) -> None:
        """Make the reason visible: in the event stream, the job's state and the store."""
        reason = f"{type(exc).__name__}: {exc}"
        record_failure(
            self.job,
            self.request,
            self.store,
            self.events,
            self.settings,
            code=type(exc).__name__,
            detail=str(exc),
            reason=reason,
        )
        self.observe("job", status="failed", seconds=time.monotonic() - self._started)


def record_failure(
    job: Job,
    request: JobRequest,
    store: ResultStore,
    events: EventPublisher,
    settings: WorkerSettings,
    *,
    code: str,
    detail: str,
    reason: str,
) -> None:
    """A failed job: `failed` with the reason in its state, a terminal `error` event, and a
    failed result in the store."""
    write_state(job.connection, job.id, settings.failure_ttl_s, "failed", error=reason)
    events.publish(job.id, "error", {"error": code, "detail": detail})
    failed = StoredResult(
        job_id=job.id,
        content_key=request.content_key,
        status="failed",
        style=request.style,
        tasks=request.tasks,
        source_url=request.source_url,
        title=request.title,
        error=reason,
    )
    with suppress(Exception):  # the store being down must not hide the original reason
        store.save(failed)


def record_lost(job: Job, reason: str) -> None:
    """The job's process died, or lost Redis, without recording how the job ended (killed,
    out of memory, worker gone, Redis unreachable): record the failure, unless its outcome
    is recorded already (in Redis, or only in the store when Redis was not told)."""
    if job_ended(job.connection, job.id):
        return
    settings = WorkerSettings()
    store = open_store(StoreSettings())
    events = EventPublisher(job.connection, ttl_s=settings.event_log_ttl_s)
    try:
        stored = None
        with suppress(Exception):  # a store that is down cannot say; Redis is told anyway
            stored = store.get(job.id)
        # Number the end past anything the lost process may have published before Redis
        # lost it (a restart without persistence): readers skip numbers they have seen.
        job.connection.incrby(names.events_seq(job.id), d.EVENT_LOG_MAX_EVENTS)
        if stored is not None:  # the store has the outcome and answers for the job
            job.connection.delete(names.job_meta(job.id))
            if stored.status == "finished":
                events.publish(job.id, "done", {"status": "finished", "outcomes": stored.outcomes})
            else:
                events.publish(job.id, "error", {"error": "JobFailed", "detail": stored.error})
            return
        record_failure(
            job,
            JobRequest.model_validate(job.args[0]),
            store,
            events,
            settings,
            code="JobLost",
            detail=reason,
            reason=reason,
        )
    finally:
        store.close()


def on_horse_killed(job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
    """Worker hook: the forked work horse running `job` died."""
    record_lost(job, f"the process running this job died (exit status {ret_val})")


def on_failure(job: Job, connection: redis.Redis, exc_type: Any, exc: Any, tb: Any) -> None:
    """RQ failure callback; also called for jobs abandoned by a worker that vanished."""
    record_lost(job, f"the job was lost: {exc_type.__name__ if exc_type else 'unknown'}")


def preload() -> None:
    """Build once, in the worker before it forks, what every job builds: each job runs in a
    fresh fork and would otherwise pay the lazy imports and set-up (~50 ms) itself."""
    FactoryClient(WorkerSettings()).close()
    with suppress(Exception):  # a store that is down now is reported by the jobs that need it
        open_store(StoreSettings()).close()


def run_job(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point. Returns the stored result as JSON; raises (job failed) with a reason."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_job must run inside an RQ worker")
    settings = WorkerSettings()
    request = JobRequest.model_validate(payload)
    connection: redis.Redis = job.connection
    factory = FactoryClient(settings)
    store = open_store(StoreSettings())
    events = ResumingPublisher(connection, settings.failure_ttl_s, settings.event_log_ttl_s)
    runner = JobRunner(job, request, factory, store, events, settings)
    try:
        return runner.run().model_dump(mode="json")
    except BaseException as exc:
        runner.fail(exc)
        raise
    finally:
        factory.close()
        store.close()
