"""Prometheus metrics of one gateway app (its own registry: no module-level globals)."""

from __future__ import annotations

import json

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_submitted = Counter("pulse_jobs_submitted", "Jobs enqueued", registry=r)
        self.jobs_cached = Counter(
            "pulse_jobs_cached", "Submissions answered from a stored result", registry=r
        )
        self.scrape_refused = Counter(
            "pulse_scrape_refused", "URLs refused or failed, by reason", ["reason"], registry=r
        )
        self.tokens_streamed = Counter(
            "pulse_tokens_streamed", "Token events sent to SSE clients", registry=r
        )
        self.sse_clients = Gauge("pulse_sse_clients", "Open SSE connections", registry=r)
        self.queue_depth = Gauge("pulse_queue_depth", "Jobs waiting in the queue", registry=r)
        self.jobs_ended = Counter(
            "pulse_jobs_ended", "Jobs that ended, by status", ["status"], registry=r
        )
        buckets = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800)
        self.job_seconds = Histogram(
            "pulse_job_seconds",
            "Job duration in the worker",
            ["status"],
            buckets=buckets,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "pulse_stage_seconds",
            "Stage duration in the worker",
            ["stage"],
            buckets=buckets,
            registry=r,
        )

    def absorb(self, raw: list[bytes | str]) -> None:
        """Timings the workers left in Redis (see worker.jobs.JobRunner.observe)."""
        for item in raw:
            obs = json.loads(item)
            if obs["kind"] == "stage":
                self.stage_seconds.labels(obs["stage"]).observe(obs["seconds"])
            elif obs["kind"] == "job":
                self.jobs_ended.labels(obs["status"]).inc()
                self.job_seconds.labels(obs["status"]).observe(obs["seconds"])

    def render(self, queue_depth: int) -> Response:
        self.queue_depth.set(queue_depth)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
