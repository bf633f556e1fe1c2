"""Submitting: the article's text (scraped or given, held to the same limits), repeated work
skipped, and admission to the queue under its depth limit."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from rq import Callback

from gateway import access
from gateway.extraction import count_words
from gateway.scrape import ScrapeError
from gateway.services import Services
from shared import redis_names as names
from shared.api import JobState, SubmitRequest, SubmitResponse
from shared.http_errors import ApiError
from shared.jobs import JobRequest
from shared.jobstate import JobStates, is_terminal, read_state
from shared.settings import GatewaySettings
from shared.store import content_key


async def article_text(
    req: SubmitRequest, services: Services, client: str
) -> tuple[str, str | None]:
    """The text to work on and its title: scraped from the URL for `client`, or as given.
    Both are held to the same text limits."""
    settings = services.settings
    text, title, what = req.text or "", None, "text"
    if req.url is not None:
        try:
            article = await services.scraper.scrape(req.url, client)
        except ScrapeError as exc:
            services.metrics.scrape_refused.labels(exc.code).inc()
            raise ApiError(exc.status, exc.code, exc.detail, retry_after=exc.retry_after) from exc
        text, title, what = article.text, article.title, "the page's article text"
    size = len(text.encode())
    if size > settings.max_text_bytes:
        limit = settings.max_text_bytes
        if req.url is not None:
            services.metrics.scrape_refused.labels("text_too_large").inc()
        raise ApiError(413, "text_too_large", f"{what} is {size} bytes; the limit is {limit}")
    words = count_words(text)
    if words < settings.min_words:
        raise ApiError(
            422, "too_few_words", f"{what} has {words} words; at least {settings.min_words} needed"
        )
    return text, title


def _urls(settings: GatewaySettings, job_id: str) -> dict[str, Any]:
    token = access.read_token(settings, job_id)
    query = f"?token={token}" if token else ""
    return {
        "status_url": f"/queue/{job_id}{query}",
        "stream_url": f"/queue/{job_id}/events{query}",
        "read_token": token,
    }


async def submit(req: SubmitRequest, services: Services, client: str) -> tuple[int, SubmitResponse]:
    text, title = await article_text(req, services, client)
    labels = list(req.labels) if req.labels else None
    key = content_key(text, req.style, list(req.tasks), {"labels": labels, "voice": req.voice})
    if not req.refresh:
        stored = await anyio.to_thread.run_sync(services.store.find, key)
        if stored is not None:
            services.metrics.jobs_cached.inc()
            return 200, SubmitResponse(
                job_id=stored.job_id,
                status="finished",
                cached=True,
                **_urls(services.settings, stored.job_id),
            )
        running = await services.redis.get(names.content(key))
        if running is not None:
            job_id = running.decode() if isinstance(running, bytes) else str(running)
            state = await job_state(services, job_id)
            if state is not None and not is_terminal(state):
                return 202, SubmitResponse(
                    job_id=job_id, status=state, **_urls(services.settings, job_id)
                )
    settings = services.settings
    request = JobRequest(
        text=text,
        style=req.style,
        tasks=list(req.tasks),
        voice=req.voice,
        source_url=req.url,
        title=title,
        content_key=key,
        **({"labels": labels} if labels else {}),
    )
    job_id = uuid.uuid4().hex

    def admit() -> int | None:
        """Check the depth and enqueue as one step for every gateway replica (a lock in
        Redis): None when admitted, else the depth that refused it."""
        lock = services.rq_redis.lock(names.ADMISSION_LOCK, timeout=10, blocking_timeout=10)
        with lock:
            depth = services.queue.count
            if depth >= settings.max_queue_depth:
                return depth
            JobStates(services.rq_redis, settings.jobs).queued(job_id)
            services.queue.enqueue(
                "worker.jobs.run_job",
                request.model_dump(mode="json"),
                job_id=job_id,
                job_timeout=settings.jobs.timeout_s,
                result_ttl=settings.jobs.result_ttl_s,
                failure_ttl=settings.jobs.failure_ttl_s,
                on_failure=Callback("worker.jobs.on_failure"),
            )
        return None

    refused_at = await anyio.to_thread.run_sync(admit)
    if refused_at is not None:
        raise ApiError(
            429,
            "queue_full",
            f"{refused_at} jobs are waiting; try again later",
            retry_after=settings.retry_after_s,
        )
    await services.redis.set(names.content(key), job_id, ex=settings.jobs.timeout_s)
    services.metrics.jobs_submitted.inc()
    return 202, SubmitResponse(job_id=job_id, status="queued", **_urls(services.settings, job_id))


async def job_state(services: Services, job_id: str) -> JobState | None:
    state = await read_state(services.redis, job_id)
    return state["status"] if state else None
