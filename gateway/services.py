"""What every route uses (opened in the app's lifespan) and the dependencies that guard the
routes: the API key, job read tokens, the metrics token, the per-client rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
import redis.asyncio as aredis
from fastapi import Depends, Request
from redis import Redis
from rq import Queue

from gateway import access
from gateway.metrics import Metrics
from gateway.scrape import Scraper
from shared import redis_names as names
from shared.eventlog import EventHub
from shared.http_errors import ApiError
from shared.settings import GatewaySettings
from shared.store import ResultStore


@dataclass
class Services:
    """Everything the routes use, opened in the lifespan and closed after it."""

    settings: GatewaySettings
    redis: aredis.Redis
    hub: EventHub
    rq_redis: Redis
    queue: Queue
    store: ResultStore
    http: httpx.AsyncClient  # readiness probes only: scraping has its own pool
    scraper: Scraper
    metrics: Metrics


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(request: Request, services: ServicesDep) -> None:
    """Submitting and listing need the API key when one is set (X-API-Key or Bearer)."""
    access.check_key(services.settings, request)


def require_job_reader(job_id: str, request: Request, services: ServicesDep) -> None:
    """A job's status, events and audio: the API key or that job's read token."""
    access.check_job_read(services.settings, request, job_id)


def require_metrics_reader(request: Request, services: ServicesDep) -> None:
    access.check_metrics(services.settings, request)


async def limit_rate(request: Request, services: ServicesDep) -> None:
    """A fixed one-minute window of submissions per client address."""
    key = names.submissions(access.client_address(services.settings, request))
    async with services.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 60, nx=True)
        count, _ = await pipe.execute()
    limit = services.settings.submissions_per_minute
    if count > limit:
        ttl = await services.redis.ttl(key)
        raise ApiError(
            429,
            "rate_limited",
            f"more than {limit} submissions a minute",
            retry_after=max(int(ttl), 1),
        )
