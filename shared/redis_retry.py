"""How long a Redis command keeps trying through an outage (a restart, Redis loading its
append-only file) before its connection error reaches the caller."""

from __future__ import annotations

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared import defaults as d


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=d.REDIS_BACKOFF_MAX_S, base=d.REDIS_BACKOFF_FIRST_S)


def retries_within(budget_s: float, backoff: ExponentialBackoff) -> int:
    """How many retries of `backoff` add up to `budget_s` of waiting."""
    waited, retries = 0.0, 0
    while waited < budget_s:
        retries += 1
        waited += backoff.compute(retries)
    return retries


def retry_for(budget_s: float) -> Retry:
    """Connection failures (BusyLoadingError too) retried with backoff for `budget_s`."""
    backoff = _backoff()
    return Retry(backoff, retries_within(budget_s, backoff))


def async_retry_for(budget_s: float) -> AsyncRetry:
    backoff = _backoff()
    return AsyncRetry(backoff, retries_within(budget_s, backoff))
