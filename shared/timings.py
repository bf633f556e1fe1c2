"""The workers' job and stage timings, kept in Redis as Prometheus-style totals.

Workers run each job in a short-lived fork, so they cannot be scraped: they add each timing to
counters in Redis (one hash per metric, fields `<label>:<bucket bound>` and `<label>:sum`;
buckets are not cumulative here, the reader adds them up). Every gateway reads them without taking
anything, so every replica and every scrape sees the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from shared import defaults as d
from shared import redis_names as names


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    help: str
    label: str


JOB_SECONDS = HistogramSpec("pulse_job_seconds", "Job duration in the worker", "status")
STAGE_SECONDS = HistogramSpec("pulse_stage_seconds", "Stage duration in the worker", "stage")
HISTOGRAMS = (JOB_SECONDS, STAGE_SECONDS)
JOBS_ENDED = "pulse_jobs_ended"  # a counter by status


def bucket_of(seconds: float) -> str:
    """The field suffix of the (non-cumulative) bucket that `seconds` falls in."""
    for bound in d.TIMING_BUCKETS_S:
        if seconds <= bound:
            return str(float(bound))
    return "+Inf"


def record(client: redis.Redis, spec: HistogramSpec, label: str, seconds: float) -> None:
    """Add one timing (and, for a job, one ended job of its status) in one transaction."""
    key = names.metric(spec.name)
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, f"{label}:{bucket_of(seconds)}", 1)
        pipe.hincrbyfloat(key, f"{label}:sum", seconds)
        if spec is JOB_SECONDS:
            pipe.hincrby(names.metric(JOBS_ENDED), label, 1)
        pipe.execute()


@dataclass
class Histogram:
    """One label value's histogram: cumulative bucket counts as Prometheus exposes them."""

    buckets: list[tuple[str, float]] = field(default_factory=list)
    sum: float = 0.0


@dataclass
class Totals:
    histograms: dict[str, dict[str, Histogram]]  # metric name -> label value -> histogram
    jobs_ended: dict[str, float]  # status -> count


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _histograms(raw: dict[bytes | str, bytes | str]) -> dict[str, Histogram]:
    fields = {_text(k): float(v) for k, v in raw.items()}
    labels = {k.rsplit(":", 1)[0] for k in fields}  # label values never contain ":"
    bounds = [str(float(b)) for b in d.TIMING_BUCKETS_S] + ["+Inf"]
    out: dict[str, Histogram] = {}
    for label in sorted(labels):
        running, hist = 0.0, Histogram(sum=fields.get(f"{label}:sum", 0.0))
        for bound in bounds:
            running += fields.get(f"{label}:{bound}", 0.0)
            hist.buckets.append((bound, running))
        out[label] = hist
    return out


def read(client: redis.Redis) -> Totals:
    """Every total, read without changing anything."""
    with client.pipeline(transaction=True) as pipe:
        for spec in HISTOGRAMS:
            pipe.hgetall(names.metric(spec.name))
        pipe.hgetall(names.metric(JOBS_ENDED))
        *hists, ended = pipe.execute()
    return Totals(
        histograms={
            spec.name: _histograms(raw) for spec, raw in zip(HISTOGRAMS, hists, strict=True)
        },
        jobs_ended={_text(k): float(v) for k, v in ended.items()},
    )
