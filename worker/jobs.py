"""The RQ job: summary (streamed token by token), entities, audio, then the store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import httpx
import redis
from rq import get_current_job
from rq.job import Job
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared import defaults as d
from shared import redis_names as names
from shared import timings
from shared.eventlog import EventPublisher
from shared.events import EventType, Stage
from shared.jobs import JobRequest
from shared.jobstate import JobStates
from shared.schemas import Entity, Highlights, Provenance, StructuredSummary
from shared.settings import StoreSettings, WorkerSettings
from shared.store import ResultStore, StoredResult, StoreError, open_store
from shared.store.pending import PendingWrites
from worker.factory_client import FactoryClient, FactoryError
from worker.fields import StringFieldStream
from worker.recovery import ResumingPublisher, job_ended

log = logging.getLogger(__name__)

# What a task's factory call may fail with: its failure is that task's, not the job's.
TASK_ERRORS = (FactoryError, httpx.HTTPError, OSError, ValueError)

# What the `done` event says of the article the summary read (the input budget's work).
INPUT_FIELDS = {
    "article_tokens",
    "input_tokens",
    "prompt_tokens",
    "output_tokens",
    "input_budget_tokens",
    "input_selection",
    "selected_sentences",
    "dropped_sentences",
    "truncated",
}

PROGRESS: dict[Stage, float] = {
    "highlighting": 0.02,
    "summarizing": 0.05,
    "grounding": 0.55,
    "entities": 0.6,
    "audio": 0.75,
    "storing": 0.9,
    "done": 1.0,
}


def _failed(exc: BaseException) -> str:
    detail = str(exc) if isinstance(exc, FactoryError) else f"{type(exc).__name__}: {exc}"
    return f"failed: {detail}"


class StoreHandle:
    """The store, opened on first use and again after a failure: a store that is down
    when a job starts must not stop the job (its result can wait in Redis)."""

    def __init__(self, opener: Callable[[], ResultStore] | None = None) -> None:
        self.opener = opener or (lambda: open_store(StoreSettings()))
        self._store: ResultStore | None = None

    def get(self) -> ResultStore:
        if self._store is None:
            try:
                self._store = self.opener()
            except StoreError:
                raise
            except Exception as exc:  # settings that do not validate, a driver's own error
                raise StoreError(f"cannot open the store: {type(exc).__name__}: {exc}") from exc
        return self._store

    def save(self, result: StoredResult, audio: bytes | None = None) -> None:
        try:
            self.get().save(result, audio)
        except Exception:
            self.close()  # the next try opens it afresh
            raise

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with suppress(Exception):
                store.close()


def keep_for_later(
    connection: redis.Redis, settings: WorkerSettings, result: StoredResult, audio: bytes | None
) -> None:
    PendingWrites(connection, settings.pending_store_ttl_s).keep(result, audio)


def drain_pending(connection: redis.Redis, store: StoreHandle, settings: WorkerSettings) -> int:
    """Write results that earlier jobs could not store; best-effort (the store may be down)."""
    try:
        pending = PendingWrites(connection, settings.pending_store_ttl_s)
        return pending.drain(store.get(), d.PENDING_DRAIN_MAX)
    except Exception as exc:
        log.warning("pending store writes wait: %s", exc)
        return 0


class JobRunner:
    def __init__(
        self,
        job: Job,
        request: JobRequest,
        factory: FactoryClient,
        store: StoreHandle,
        events: EventPublisher,
        settings: WorkerSettings,
    ) -> None:
        self.settings = settings
        self._started = time.monotonic()
        self._stage: Stage | None = None
        self._stage_started = self._started
        self.first_text_ms: float | None = None  # factory request -> first summary text
        self.highlights_ms: float | None = None  # job start -> highlights published
        self.summary_input: dict[str, Any] | None = None  # what the summary read of the text
        self.summary_model: dict[str, Any] | None = None  # the LLM that wrote it, demo or not
        self.job = job
        self.request = request
        self.factory = factory
        self.store = store
        self.events = events

    def publish(self, etype: EventType, data: dict[str, Any]) -> None:
        self.events.publish(self.job.id, etype, data)

    def observe(self, kind: str, **fields: Any) -> None:
        """Add a timing to the totals in Redis that every gateway's /metrics reads
        (workers run in short-lived forks: nothing here can be scraped)."""
        if kind == "stage":
            timings.record(
                self.job.connection, timings.STAGE_SECONDS, fields["stage"], fields["seconds"]
            )
        elif kind == "job":
            timings.record(
                self.job.connection, timings.JOB_SECONDS, fields["status"], fields["seconds"]
            )

    def stage(self, stage: Stage) -> None:
        now = time.monotonic()
        if self._stage is not None:
            self.observe("stage", stage=self._stage, seconds=now - self._stage_started)
        self._stage, self._stage_started = stage, now
        JobStates(self.job.connection, self.settings.jobs).started(
            self.job.id, stage, PROGRESS[stage]
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
                self.summary_input = item.model_dump(include=INPUT_FIELDS)
                self.summary_model = {"name": item.model, "demo": item.demo_model}
                self.publish("summary", item.structured.model_dump(mode="json"))
                return item.structured
        raise FactoryError("the summary stream gave no result", transient=False)

    def highlights(self, outcomes: dict[str, str]) -> Highlights | None:
        """The cheap part first: the article's key sentences, before the LLM is asked
        anything. A failure (text with no sentence, the embedder down) is this task's."""
        try:
            found = self.factory.highlights(self.request.text, self.settings.highlights_k)
        except TASK_ERRORS as exc:
            outcomes["highlights"] = _failed(exc)
            self.publish("highlights", {"highlights": [], "error": outcomes["highlights"]})
            return None
        outcomes["highlights"] = "ok"
        shown = Highlights.model_validate(found.model_dump(include=set(Highlights.model_fields)))
        self.publish("highlights", shown.model_dump(mode="json"))
        self.highlights_ms = round((time.monotonic() - self._started) * 1000, 1)
        return shown

    def ground(self, summary: StructuredSummary, outcomes: dict[str, str]) -> Provenance | None:
        """Link the summary's claims to the article's sentences; flag the unsupported."""
        try:
            found = self.factory.provenance(self.request.text, summary)
        except TASK_ERRORS as exc:
            outcomes["provenance"] = _failed(exc)
            return None
        outcomes["provenance"] = "ok"
        shown = Provenance.model_validate(found.model_dump(include=set(Provenance.model_fields)))
        self.publish("provenance", shown.model_dump(mode="json"))
        return shown

    def run(self) -> StoredResult:
        req, outcomes = self.request, dict[str, str]()
        highlights: Highlights | None = None
        summary: StructuredSummary | None = None
        provenance: Provenance | None = None
        entities: list[Entity] | None = None
        audio: bytes | None = None
        if "highlights" in req.tasks:
            self.stage("highlighting")
            highlights = self.highlights(outcomes)
        if "summary" in req.tasks:
            self.stage("summarizing")
            summary = self.summarize()  # a failed summary fails the job
            outcomes["summary"] = "ok"
            self.stage("grounding")
            provenance = self.ground(summary, outcomes)
        if "entities" in req.tasks:
            self.stage("entities")
            try:
                entities = self.factory.extract(req.text, req.labels)
                outcomes["entities"] = "ok"
                self.publish("entities", {"entities": [e.model_dump() for e in entities]})
            except TASK_ERRORS as exc:  # a timeout too: that task's failure, not the job's
                outcomes["entities"] = _failed(exc)
        if "audio" in req.tasks:
            self.stage("audio")
            narration = summary.main_summary if summary else req.text
            try:
                audio, engine = self.factory.audio(narration, req.voice)
                outcomes["audio"] = "ok"
                url = f"/queue/{self.job.id}/audio"
                self.publish("audio", {"url": url, "bytes": len(audio), "engine": engine})
            except TASK_ERRORS as exc:
                audio, outcomes["audio"] = None, _failed(exc)
        if all(outcomes.get(task) != "ok" for task in req.tasks):
            failures = "; ".join(f"{task} {outcomes[task]}" for task in req.tasks)
            raise FactoryError("every task failed: " + failures, False)
        self.stage("storing")
        result = StoredResult(
            job_id=self.job.id,
            content_key=req.content_key,
            status="finished",
            style=req.style,
            tasks=req.tasks,
            source_url=req.source_url,
            title=req.title or (summary.title if summary else None),
            highlights=highlights,
            summary=summary,
            provenance=provenance,
            entities=entities,
            has_audio=audio is not None,
            outcomes=outcomes,
        )
        store_failure = self.save(result, audio)
        shown = result
        if store_failure is not None:
            shown = result.model_copy(update={"outcomes": {**outcomes, "store": store_failure}})
        self.stage("done")
        self.observe("job", status="finished", seconds=time.monotonic() - self._started)
        JobStates(self.job.connection, self.settings.jobs).finished(
            self.job.id, shown.model_dump(mode="json")
        )
        waited = {"highlights_ms": self.highlights_ms, "factory_first_text_ms": self.first_text_ms}
        done = {"status": "finished", "outcomes": shown.outcomes, "timings": waited}
        if self.summary_input is not None:
            done["input"] = self.summary_input
        if self.summary_model:
            done["model"] = self.summary_model
        self.publish("done", done)
        if store_failure is None:  # the store answers: write what earlier jobs could not
            drain_pending(self.job.connection, self.store, self.settings)
        return shown

    def save(self, result: StoredResult, audio: bytes | None) -> str | None:
        """Store the result, trying again with backoff. If the store still fails, the result
        waits in Redis for a later drain; returns that failure's outcome."""
        retrying = Retrying(
            retry=retry_if_exception_type(StoreError),
            stop=stop_after_attempt(self.settings.store_retry_attempts),
            wait=wait_exponential(multiplier=0.5, max=self.settings.store_retry_max_wait_s),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.store.save(result, audio)
            return None
        except Exception as exc:
            log.warning(
                "job %s: the store failed, its result waits in Redis: %s", result.job_id, exc
            )
            keep_for_later(self.job.connection, self.settings, result, audio)
            return f"{_failed(exc)} (kept in Redis, written later)"

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
    request: JobRequest | None,
    store: StoreHandle,
    events: EventPublisher,
    settings: WorkerSettings,
    *,
    code: str,
    detail: str,
    reason: str,
) -> None:
    """A failed job: `failed` with the reason in its state, a terminal `error` event, and a
    failed result in the store (best-effort: one try, else it waits in Redis)."""
    JobStates(job.connection, settings.jobs).failed(job.id, reason)
    events.publish(job.id, "error", {"error": code, "detail": detail})
    if request is None:
        return  # no request to file it under; the state and the event carry the reason
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
    try:  # the store being down must not hide the original reason
        store.save(failed)
    except Exception as exc:
        log.warning("job %s: the store failed, its failure waits in Redis: %s", job.id, exc)
        with suppress(Exception):
            keep_for_later(job.connection, settings, failed, None)
        return
    drain_pending(job.connection, store, settings)


def record_lost(job: Job, reason: str) -> None:
    """The job's process died, or lost Redis, without recording how the job ended (killed,
    out of memory, worker gone, Redis unreachable): record the failure, unless its outcome
    is recorded already (in Redis, or only in the store when Redis was not told)."""
    if job_ended(job.connection, job.id):
        return
    settings = WorkerSettings()
    store = StoreHandle()
    events = EventPublisher(job.connection, ttl_s=settings.jobs.event_log_ttl_s)
    try:
        stored = None
        with suppress(Exception):  # a store that is down cannot say; Redis is told anyway
            stored = store.get().get(job.id)
        # Number the end past anything the lost process may have published before Redis
        # lost it (a restart without persistence): readers skip numbers they have seen.
        job.connection.incrby(names.events_seq(job.id), d.EVENT_LOG_MAX_EVENTS)
        if stored is not None:  # the store has the outcome and answers for the job
            JobStates(job.connection, settings.jobs).forget(job.id)
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
    fresh fork and would otherwise pay the lazy imports and set-up (~50 ms) itself. Also
    write the results that waited in Redis for the store."""
    settings = WorkerSettings()
    FactoryClient(settings).close()
    store = StoreHandle()
    try:
        with redis.Redis.from_url(settings.redis_url) as connection:
            drain_pending(connection, store, settings)
    except Exception as exc:  # Redis or the store down now: the jobs report what they need
        log.warning("preload: %s", exc)
    finally:
        store.close()


def run_job(payload: dict[str, Any]) -> None:
    """RQ entry point. The result goes to the job's state and the store (RQ keeps no copy:
    nothing would read it); raises (job failed) with a reason after making it visible
    (state `failed`, an `error` event), whatever went wrong."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_job must run inside an RQ worker")
    settings = WorkerSettings()
    connection: redis.Redis = job.connection
    events = ResumingPublisher(connection, settings.jobs)
    store = StoreHandle()
    request: JobRequest | None = None
    factory: FactoryClient | None = None
    runner: JobRunner | None = None
    try:
        request = JobRequest.model_validate(payload)
        factory = FactoryClient(settings)
        runner = JobRunner(job, request, factory, store, events, settings)
        runner.run()
    except BaseException as exc:
        try:
            if runner is not None:
                runner.fail(exc)
            else:
                reason = f"{type(exc).__name__}: {exc}"
                code = type(exc).__name__
                record_failure(
                    job, request, store, events, settings, code=code, detail=str(exc), reason=reason
                )
        except Exception as unrecorded:  # Redis itself is gone: RQ's own record remains
            log.error("job %s: could not record its failure: %s", job.id, unrecorded)
        raise
    finally:
        if factory is not None:
            factory.close()
        store.close()
