"""Regression: `GET /metrics` popped the workers' timings off a Redis list, so two scrapers
(two gateway replicas, or two Prometheus servers) split them and each saw part of the data.
The workers now keep totals in Redis that every scrape reads without taking anything."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq.job import Job

from gateway.app import create_app
from shared.jobs import JobRequest
from shared.settings import GatewaySettings, StoreSettings, WorkerSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve
from worker.jobs import JobRunner

DB = 21


@pytest.fixture
def gateways(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[str]]:
    """Two gateway replicas on one Redis."""
    with ExitStack() as stack:
        bases = []
        for i in range(2):
            settings = GatewaySettings(
                _env_file=None,  # type: ignore[call-arg]
                redis_url=redis_server.db(DB),
                store=StoreSettings(  # type: ignore[call-arg]
                    _env_file=None,
                    sqlite_path=tmp_path / f"db{i}",
                    audio_dir=tmp_path / f"audio{i}",
                ),
            )
            bases.append(stack.enter_context(serve(create_app(settings))))
        yield bases
    redis.Redis.from_url(redis_server.db(DB)).flushdb()


def runner(connection: redis.Redis) -> JobRunner:
    """A worker's job runner, as far as `observe` needs one."""
    job = Job.create("worker.jobs.run_job", connection=connection, id=uuid.uuid4().hex)
    request = JobRequest(text="some text", content_key="k")
    return JobRunner(job, request, None, None, None, WorkerSettings(_env_file=None))  # type: ignore[arg-type, call-arg]


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("pulse_job_seconds", "pulse_stage_seconds", "pulse_jobs_ended"))
    }


def test_every_scrape_of_every_replica_sees_every_worker_timing(
    gateways: list[str], redis_server: RedisServer
) -> None:
    connection = redis.Redis.from_url(redis_server.db(DB))
    job = runner(connection)
    job.observe("stage", stage="summarizing", seconds=12.5)
    job.observe("stage", stage="entities", seconds=0.4)
    job.observe("job", status="finished", seconds=14.0)
    job.observe("job", status="failed", seconds=2000.0)

    scrapes = [scrape(base) for base in gateways for _ in range(2)]
    assert all(s == scrapes[0] for s in scrapes), "scrapes disagree"
    seen = scrapes[0]
    assert seen[("pulse_jobs_ended_total", (("status", "finished"),))] == 1
    assert seen[("pulse_jobs_ended_total", (("status", "failed"),))] == 1
    assert seen[("pulse_job_seconds_count", (("status", "finished"),))] == 1
    assert seen[("pulse_job_seconds_sum", (("status", "finished"),))] == 14.0
    assert seen[("pulse_job_seconds_bucket", (("le", "5.0"), ("status", "finished")))] == 0
    assert seen[("pulse_job_seconds_bucket", (("le", "15.0"), ("status", "finished")))] == 1
    assert seen[("pulse_job_seconds_bucket", (("le", "1800.0"), ("status", "failed")))] == 0
    assert seen[("pulse_job_seconds_bucket", (("le", "+Inf"), ("status", "failed")))] == 1
    assert seen[("pulse_stage_seconds_sum", (("stage", "summarizing"),))] == 12.5
    assert seen[("pulse_stage_seconds_bucket", (("le", "1.0"), ("stage", "entities")))] == 1

    # A later observation adds to the totals that both replicas report.
    job.observe("job", status="finished", seconds=3.0)
    for base in gateways:
        after = scrape(base)
        assert after[("pulse_jobs_ended_total", (("status", "finished"),))] == 2
        assert after[("pulse_job_seconds_sum", (("status", "finished"),))] == 17.0
    connection.close()
