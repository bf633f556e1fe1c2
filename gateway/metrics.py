"""Prometheus metrics of one gateway app (its own registry: no module-level globals).

The gateway's own counters live in this process; the workers' timings and ended-job counts
are totals kept in Redis (shared/timings.py), read on every scrape without taking anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from shared import timings


class WorkerTotals(Collector):
    """The workers' timings and ended jobs, as Redis holds them at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        totals = timings.read(self.client)
        ended = CounterMetricFamily(
            timings.JOBS_ENDED, "Jobs that ended, by status", labels=["status"]
        )
        for status, count in sorted(totals.jobs_ended.items()):
            ended.add_metric([status], count)
        yield ended
        for spec in timings.HISTOGRAMS:
            family = HistogramMetricFamily(spec.name, spec.help, labels=[spec.label])
            for label, hist in totals.histograms[spec.name].items():
                family.add_metric([label], hist.buckets, hist.sum)
            yield family


class Metrics:
    def __init__(self, client: redis.Redis) -> None:
        """`client`: the Redis where the workers keep their totals (synchronous: a
        collector is called inside `generate_latest`, which /metrics runs in a thread)."""
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
        r.register(WorkerTotals(client))

    def render(self, queue_depth: int) -> Response:
        """Blocking (reads Redis): call it in a thread."""
        self.queue_depth.set(queue_depth)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
