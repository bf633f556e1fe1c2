"""The real `python -m worker` process (a forked work horse per job) with its PostgreSQL
database refusing connections: jobs still end visibly, and the results kept in Redis are
written once the database is back."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from rq import Callback, Queue, Worker

from shared import redis_names as names
from shared.jobstate import JobStates
from shared.settings import JobSettings
from shared.store import StoredResult
from tests.postgres import refuse_connections
from tests.redis_fixtures import RedisServer
from tests.servers import serve, wait_until
from tests.worker.stand_in import Script, stand_in
from tests.worker.test_jobs import events, payload, pending, state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.db(22))  # this module's own database
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def worker(
    r: redis.Redis, redis_server: RedisServer, pg_db: str, tmp_path: Path
) -> Iterator[Script]:
    """A worker process on database 22, its factory a stand-in, its store `pg_db`."""
    plan = Script()
    with serve(stand_in(plan)) as factory_url:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WORKER_REDIS_URL": redis_server.db(22),
            "WORKER_FACTORY_URL": factory_url,
            "WORKER_STORE_RETRY_ATTEMPTS": "2",
            "WORKER_STORE_RETRY_MAX_WAIT_S": "0.1",
            "WORKER_HEARTBEAT_TTL_S": "8",  # sweeps every 2 s
            "STORE_BACKEND": "postgres",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{pg_db}",
        }
        log = (tmp_path / "worker.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            queue = Queue(names.QUEUE, connection=r)
            wait_until(lambda: Worker.count(queue=queue) >= 1, timeout=60)
            yield plan
        finally:
            process.terminate()
            process.wait(timeout=60)
            print((tmp_path / "worker.log").read_text()[-3000:])


def submit(r: redis.Redis, tasks: list[str]) -> str:
    job_id = uuid.uuid4().hex
    JobStates(r, JobSettings(_env_file=None)).queued(job_id)  # type: ignore[call-arg]
    Queue(names.QUEUE, connection=r).enqueue(
        "worker.jobs.run_job",
        payload(tasks),
        job_id=job_id,
        job_timeout=120,
        on_failure=Callback("worker.jobs.on_failure"),
    )
    return job_id


def ended(r: redis.Redis, job_id: str) -> dict[str, object]:
    """The job's state once it is over (bounded wait: a job left `queued` fails the test)."""
    return wait_until(  # type: ignore[no-any-return]
        lambda: (s := state(r, job_id)).get("status") in ("finished", "failed") and s,
        timeout=60,
    )


def test_with_the_database_refusing_jobs_end_visibly_and_results_are_written_later(
    r: redis.Redis, worker: Script, pg_db: str
) -> None:
    refuse_connections(pg_db, True)
    try:
        worker.summary = "422"
        failed = submit(r, ["summary"])
        assert ended(r, failed)["status"] == "failed"
        assert events(r, failed)[-1][0] == "error"

        worker.summary = "stream"
        finished = submit(r, ["summary", "audio"])
        now = ended(r, finished)
        assert now["status"] == "finished"
        assert now["result"]["outcomes"]["store"].startswith("failed: ")  # type: ignore[index]
        assert events(r, finished)[-1][0] == "done"
        assert pending(r) == {failed, finished}
    finally:
        refuse_connections(pg_db, False)

    after = submit(r, ["summary"])
    assert ended(r, after)["status"] == "finished"
    wait_until(lambda: not pending(r), timeout=30)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_db}") as conn:
        rows = conn.execute(
            "select job_id, document from pulse_results where job_id = any(%s)",
            ([failed, finished],),
        ).fetchall()
        mp3 = conn.execute("select mp3 from pulse_audio where job_id = %s", (finished,)).fetchone()
    stored = {job_id: StoredResult.model_validate(doc) for job_id, doc in rows}
    assert stored[failed].status == "failed" and "422" in (stored[failed].error or "")
    assert stored[finished].status == "finished" and stored[finished].has_audio
    assert mp3 is not None and bytes(mp3[0]).startswith(b"ID3")


def test_an_idle_worker_writes_the_results_that_waited_for_the_store(
    r: redis.Redis, worker: Script, pg_db: str
) -> None:
    """With no further job to trigger it, a result kept in Redis while the database was down
    reaches the database once it is back."""
    refuse_connections(pg_db, True)
    try:
        finished = submit(r, ["summary"])
        assert ended(r, finished)["status"] == "finished"
        assert pending(r) == {finished}
    finally:
        refuse_connections(pg_db, False)
    wait_until(lambda: not pending(r), timeout=60)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_db}") as conn:
        row = conn.execute("select 1 from pulse_results where job_id = %s", (finished,)).fetchone()
    assert row is not None
    assert "store" not in state(r, finished)["result"]["outcomes"]  # type: ignore[index]
