"""Every way a job can go wrong ends it visibly, and a finished summary is never thrown
away: real RQ jobs on a private Redis, run by an RQ worker, against a stand-in factory on
loopback and a real store (SQLite, or a PostgreSQL database made to refuse connections)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from rq import Callback, Queue, SimpleWorker
from rq.job import Job

from shared import redis_names as names
from shared.eventlog import EventPublisher
from shared.jobs import JobRequest
from shared.jobstate import JobStates
from shared.settings import JobSettings, WorkerSettings
from shared.store import StoredResult
from shared.store.sqlite import SqliteStore
from tests.postgres import refuse_connections
from tests.redis_fixtures import RedisServer
from tests.servers import free_port, serve
from tests.worker.stand_in import STRUCTURED, Script, stand_in
from worker.factory_client import FactoryClient
from worker.jobs import JobRunner, StoreHandle

TEXT = "Jane Okafor said the council approved a $20 million bridge over the river. " * 8


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.db(21))  # this module's own database
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Script]:
    """A stand-in factory, and a worker environment pointing at it (SQLite store by default)."""
    monkeypatch.chdir(tmp_path)  # no stray .env file
    plan = Script()
    with serve(stand_in(plan)) as base:
        env = {
            "WORKER_FACTORY_URL": base,
            "WORKER_RETRY_ATTEMPTS": "2",
            "WORKER_RETRY_MAX_WAIT_S": "0.1",
            "WORKER_STORE_RETRY_ATTEMPTS": "2",
            "WORKER_STORE_RETRY_MAX_WAIT_S": "0.1",
            "STORE_BACKEND": "sqlite",
            "STORE_SQLITE_PATH": str(tmp_path / "pulse.sqlite3"),
            "STORE_AUDIO_DIR": str(tmp_path / "audio"),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield plan


def payload(tasks: list[str] | None = None) -> dict[str, Any]:
    request = JobRequest(
        text=TEXT,
        tasks=tasks or ["summary", "entities", "audio"],  # type: ignore[arg-type]
        content_key=uuid.uuid4().hex,
    )
    return request.model_dump(mode="json")


def run(r: redis.Redis, body: dict[str, Any]) -> str:
    """Enqueue as the gateway does (state `queued`, the failure callback), then let an RQ
    worker run everything queued."""
    queue = Queue(names.QUEUE, connection=r)
    job_id = uuid.uuid4().hex
    JobStates(r, JobSettings(_env_file=None)).queued(job_id)  # type: ignore[call-arg]
    queue.enqueue(
        "worker.jobs.run_job",
        body,
        job_id=job_id,
        job_timeout=120,
        on_failure=Callback("worker.jobs.on_failure"),
    )
    SimpleWorker([queue], connection=r).work(burst=True)
    return job_id


def state(r: redis.Redis, job_id: str) -> dict[str, Any]:
    raw = {k.decode(): v.decode() for k, v in r.hgetall(names.job_meta(job_id)).items()}
    if "result" in raw:
        raw["result"] = json.loads(raw["result"])
    return raw


def events(r: redis.Redis, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    logged = [json.loads(fields[b"e"]) for _, fields in r.xrange(names.events_log(job_id))]
    return [(e["type"], e["data"]) for e in logged]


def pending(r: redis.Redis) -> set[str]:
    return {m.decode() for m in r.smembers(names.PENDING_STORE_WRITES)}


@pytest.mark.parametrize("task", ["entities", "audio"])
def test_a_task_timing_out_is_that_tasks_failure_and_the_summary_is_kept(
    r: redis.Redis, script: Script, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    monkeypatch.setenv("WORKER_FACTORY_READ_TIMEOUT_S", "1")
    script.extract_delay_s = 4.0 if task == "entities" else 0.0
    script.audio_delay_s = 4.0 if task == "audio" else 0.0
    job_id = run(r, payload())
    now = state(r, job_id)
    assert now["status"] == "finished", now
    outcomes = now["result"]["outcomes"]
    assert outcomes[task].startswith("failed: ReadTimeout"), outcomes
    assert outcomes["summary"] == "ok"
    assert now["result"]["summary"] == STRUCTURED
    assert events(r, job_id)[-1][0] == "done"


def test_a_store_down_when_the_job_starts_still_ends_a_failing_job_visibly(
    r: redis.Redis, script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_BACKEND", "postgres")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    script.summary = "422"  # the job fails, and its failure cannot be stored either
    job_id = run(r, payload(["summary"]))
    now = state(r, job_id)
    assert now["status"] == "failed", now
    assert "422" in now["error"]
    kind, data = events(r, job_id)[-1]
    assert kind == "error" and "422" in data["detail"]
    assert job_id in pending(r)  # the failed result waits for the store


def test_a_store_down_when_the_job_starts_keeps_the_result_in_redis(
    r: redis.Redis, script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_BACKEND", "postgres")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    job_id = run(r, payload(["summary"]))
    now = state(r, job_id)
    assert now["status"] == "finished", now
    assert now["result"]["outcomes"]["store"].startswith("failed: ")
    kind, data = events(r, job_id)[-1]
    assert kind == "done" and data["outcomes"]["store"].startswith("failed: ")
    assert job_id in pending(r)


def test_a_store_failing_at_the_final_write_keeps_the_summary_then_writes_it_when_back(
    r: redis.Redis, script: Script, monkeypatch: pytest.MonkeyPatch, pg_db: str
) -> None:
    database_url = f"postgresql://postgres@127.0.0.1:5432/{pg_db}"
    monkeypatch.setenv("STORE_BACKEND", "postgres")
    monkeypatch.setenv("DATABASE_URL", database_url)
    # PostgreSQL goes down while the summary is generated: the job's store write fails.
    script.on_summarize = lambda: refuse_connections(pg_db, True)
    try:
        first = run(r, payload())
        script.on_summarize = None
        now = state(r, first)
        assert now["status"] == "finished", now
        assert now["result"]["summary"] == STRUCTURED
        store_outcome = now["result"]["outcomes"]["store"]
        assert store_outcome.startswith("failed: ") and "kept in Redis" in store_outcome
        kinds = [kind for kind, _ in events(r, first)]
        assert kinds[-1] == "done" and "error" not in kinds
        assert pending(r) == {first}
    finally:
        refuse_connections(pg_db, False)

    # PostgreSQL is back: the next job's worker writes the kept result, MP3 included.
    second = run(r, payload(["summary"]))
    assert state(r, second)["result"]["outcomes"] == {"summary": "ok", "provenance": "ok"}
    assert pending(r) == set()
    assert not r.exists(names.pending_store_write(first))
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select r.document, a.mp3 from pulse_results r join pulse_audio a using (job_id) "
            "where job_id = %s",
            (first,),
        ).fetchone()
    assert row is not None
    stored = StoredResult.model_validate(row[0])
    assert stored.status == "finished" and stored.summary is not None
    assert stored.outcomes == {
        "summary": "ok",
        "provenance": "ok",
        "entities": "ok",
        "audio": "ok",
    }
    assert bytes(row[1]).startswith(b"ID3")
    assert state(r, first)["result"]["outcomes"] == stored.outcomes  # status agrees again


def test_sqlite_disk_full_keeps_the_summary_in_redis_until_there_is_room(
    r: redis.Redis, script: Script, tmp_path: Path
) -> None:
    """A real "database or disk is full" from SQLite: the store's connections may not grow
    the file past `max_page_count` pages."""
    db, audio = tmp_path / "full.sqlite3", tmp_path / "full-audio"
    SqliteStore(db, audio).close()
    room = {"pages": 0}  # no room to grow

    def opener() -> SqliteStore:
        store = SqliteStore(db, audio)
        pages = store._db.execute("pragma page_count").fetchone()[0] + room["pages"]
        store._db.execute(f"pragma max_page_count = {pages}")
        return store

    def job(tasks: list[str], title: str | None = None) -> tuple[str, JobRunner]:
        body = {**payload(tasks), "title": title}
        settings = WorkerSettings(store_retry_attempts=2, store_retry_max_wait_s=0.1)  # type: ignore[call-arg]
        job = Job.create("worker.jobs.run_job", args=[body], connection=r, id=uuid.uuid4().hex)
        request = JobRequest.model_validate(body)
        factory, store = FactoryClient(settings), StoreHandle(opener)
        return job.id, JobRunner(job, request, factory, store, EventPublisher(r), settings)

    long_title = "t" * 6000  # a document bigger than a page
    first, runner = job(["summary", "entities"], long_title)
    result = runner.run()
    assert "database or disk is full" in result.outcomes["store"], result.outcomes
    assert state(r, first)["status"] == "finished"
    assert pending(r) == {first}

    room["pages"] = 1000  # room again
    _, runner = job(["summary"])
    assert runner.run().outcomes == {"summary": "ok", "provenance": "ok"}
    assert pending(r) == set()
    saved = SqliteStore(db, audio).get(first)
    assert saved is not None and saved.title == long_title and saved.summary is not None


def test_a_factory_sending_only_keep_alives_fails_the_job_with_a_clear_reason(
    r: redis.Redis, script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_TASK_IDLE_TIMEOUT_S", "1")
    script.summary, script.pings_for_s = "pings", 15.0
    job_id = run(r, payload(["summary"]))
    now = state(r, job_id)
    assert now["status"] == "failed" and "no progress" in now["error"], now
    kind, data = events(r, job_id)[-1]
    assert kind == "error" and "no progress" in data["detail"]


def test_a_job_whose_request_does_not_parse_ends_visibly(r: redis.Redis, script: Script) -> None:
    job_id = run(r, {"text": TEXT, "style": "sonnet"})  # no content key, unknown style
    now = state(r, job_id)
    assert now["status"] == "failed" and "ValidationError" in now["error"], now
    assert events(r, job_id)[-1][0] == "error"


def test_highlights_come_before_the_llm_is_asked_and_provenance_after_the_summary(
    r: redis.Redis, script: Script
) -> None:
    job_id = run(r, payload(["highlights", "summary", "entities", "audio"]))
    assert script.calls[:2] == ["/highlights", "/summarize"]
    assert script.calls.index("/provenance") == 2
    logged = events(r, job_id)
    kinds = [kind for kind, _ in logged]
    assert kinds[:3] == ["status", "highlights", "status"]
    assert logged[0][1]["stage"] == "highlighting" and logged[2][1]["stage"] == "summarizing"
    assert kinds.index("highlights") < kinds.index("token")
    assert kinds.index("summary") < kinds.index("provenance") < kinds.index("entities")
    stages = [data["stage"] for kind, data in logged if kind == "status"]
    assert stages == [
        "highlighting",
        "summarizing",
        "grounding",
        "entities",
        "audio",
        "storing",
        "done",
    ]
    found = dict(logged)["highlights"]
    assert found["highlights"][0]["text"] == TEXT[: TEXT.index(". ") + 1]
    result = state(r, job_id)["result"]
    assert result["highlights"] == found
    assert result["provenance"] == dict(logged)["provenance"]
    assert result["provenance"]["unsupported"] == 0
    assert len(result["provenance"]["claims"]) == 1 + len(STRUCTURED["key_points"])
    assert result["outcomes"] == {
        "highlights": "ok",
        "summary": "ok",
        "provenance": "ok",
        "entities": "ok",
        "audio": "ok",
    }
    done = dict(logged)["done"]
    assert done["timings"]["highlights_ms"] > 0
    assert done["input"] == {
        "article_tokens": 25,
        "input_tokens": 10,
        "prompt_tokens": 20,
        "output_tokens": 30,
        "input_budget_tokens": 10,
        "input_selection": "ranked",
        "selected_sentences": 1,
        "dropped_sentences": 7,
        "truncated": False,
    }


def test_bad_input_highlights_refused_is_that_tasks_failure_and_the_summary_still_comes(
    r: redis.Redis, script: Script
) -> None:
    script.highlights = "422"
    job_id = run(r, payload(["highlights", "summary"]))
    now = state(r, job_id)
    assert now["status"] == "finished", now
    outcome = now["result"]["outcomes"]["highlights"]
    assert outcome.startswith("failed: factory answered 422 (not_text"), outcome
    assert now["result"]["highlights"] is None
    assert now["result"]["summary"] == STRUCTURED
    found = dict(events(r, job_id))["highlights"]
    assert found == {"highlights": [], "error": outcome}


def test_highlights_alone_ask_the_llm_nothing(r: redis.Redis, script: Script) -> None:
    job_id = run(r, payload(["highlights"]))
    assert script.calls == ["/highlights"]
    now = state(r, job_id)
    assert now["status"] == "finished", now
    assert now["result"]["outcomes"] == {"highlights": "ok"}
    assert now["result"]["summary"] is None and now["result"]["provenance"] is None
    kinds = [kind for kind, _ in events(r, job_id)]
    assert "token" not in kinds and kinds[-1] == "done"


def test_highlights_alone_refused_fail_the_job_with_the_reason(
    r: redis.Redis, script: Script
) -> None:
    script.highlights = "422"
    job_id = run(r, payload(["highlights"]))
    now = state(r, job_id)
    assert now["status"] == "failed", now
    assert "every task failed: highlights failed: factory answered 422" in now["error"]
