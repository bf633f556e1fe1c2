"""Prometheus metrics of one gateway app (its own registry: no module-level globals)."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
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

    def render(self, queue_depth: int) -> Response:
        self.queue_depth.set(queue_depth)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
