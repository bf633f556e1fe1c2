"""The public gateway ("Space A"): submit jobs, poll them, stream their events, get audio."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import httpx
import redis.asyncio as aredis
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis import Redis
from redis import exceptions as redis_errors
from rq import Callback, Queue
from sse_starlette import EventSourceResponse

from gateway import access
from gateway.metrics import Metrics
from gateway.scrape import ScrapeError, Scraper, scraping_client
from shared import defaults as d
from shared import redis_names as names
from shared.api import JobState, JobStatus, QueueOverview, SubmitRequest, SubmitResponse
from shared.eventlog import EventHub, follow, replay
from shared.events import EventType, JobEvent
from shared.http_errors import ApiError, BodyLimitMiddleware, install_error_handlers
from shared.jobs import JobRequest
from shared.jobstate import JobStates, is_terminal, read_state
from shared.schemas import Style
from shared.settings import GatewaySettings
from shared.store import ResultStore, StoreError, content_key, open_store


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


async def article_text(
    req: SubmitRequest, services: ServicesDep, client: str
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
    words = len(text.split())
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


async def submit(
    req: SubmitRequest, services: ServicesDep, client: str
) -> tuple[int, SubmitResponse]:
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


def _stored_status(services: Services, job_id: str) -> JobStatus | None:
    stored = services.store.get(job_id)
    if stored is None:
        return None
    finished = stored.status == "finished"
    return JobStatus(
        job_id=job_id,
        status=stored.status,
        stage="done" if finished else None,
        progress=1.0 if finished else None,
        result=stored.model_dump(mode="json") if finished else None,
        error=stored.error,
    )


async def status_of(services: Services, job_id: str) -> JobStatus:
    """One hash read (plus the queue position while queued); the store once Redis forgot."""
    state = await read_state(services.redis, job_id)
    if state is None:
        stored = await anyio.to_thread.run_sync(_stored_status, services, job_id)
        if stored is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        return stored
    status = state["status"]
    position = None
    if status == "queued":
        position = await services.redis.lpos(services.queue.key, job_id)
    return JobStatus(
        job_id=job_id,
        status=status,
        stage=state.get("stage"),
        progress=state.get("progress"),
        position=position,
        result=state.get("result") if status == "finished" else None,
        error=state.get("error"),
    )


async def ended_events(
    services: Services, job_id: str, after: int, log_lost: bool = False
) -> list[JobEvent] | None:
    """For a job that is over: what its stream still owes a reader after `after`, ending
    with its terminal event (made from the job's status when the log expired, Redis lost it
    (`log_lost`) or the worker has not published it yet). None while the job may still
    produce events; 404 for a job with neither a status nor logged events."""
    try:
        status = await status_of(services, job_id)
    except ApiError:
        if not log_lost and await services.redis.exists(names.events_log(job_id)):
            return None  # events logged, but no status (yet): still live
        raise
    if not is_terminal(status.status):
        return None
    logged = [] if log_lost else await replay(services.hub.client, job_id, 0)
    owed = [e for e in logged if e.seq > after]
    if any(e.terminal for e in logged):
        return owed
    seq = max([after, *(e.seq for e in logged)])
    made: list[tuple[EventType, dict[str, Any]]] = []
    result = status.result or {}
    if not logged and after == 0:  # the log expired: the stored result stands in for it
        if result.get("summary"):
            made.append(("summary", result["summary"]))
        if result.get("entities") is not None:
            made.append(("entities", {"entities": result["entities"]}))
    if status.status == "finished":
        made.append(("done", {"status": "finished", "outcomes": result.get("outcomes", {})}))
    else:
        made.append(("error", {"error": "job_failed", "detail": status.error or "failed"}))
    return owed + [
        JobEvent(seq=seq + i, type=kind, data=data) for i, (kind, data) in enumerate(made, 1)
    ]


async def events(
    request: Request,
    services: Services,
    job_id: str,
    after: int,
    ended: list[JobEvent] | None,
) -> AsyncIterator[dict[str, str]]:
    async def settle(last: int, log_lost: bool) -> list[JobEvent] | None:
        """After a Redis outage: did the job end meanwhile (its end maybe never logged)?"""
        try:
            return await ended_events(services, job_id, last, log_lost)
        except ApiError:
            return None  # Redis and the store know nothing of it (yet)

    services.metrics.sse_clients.inc()
    try:
        source = (
            _listed(ended)
            if ended is not None
            else follow(services.hub, job_id, after, settle=settle)
        )
        async for event in source:
            if event is None:
                if await request.is_disconnected():
                    return
                continue
            if event.type == "token":
                services.metrics.tokens_streamed.inc()
            yield {"event": event.type, "id": str(event.seq), "data": json.dumps(event.data)}
    finally:
        services.metrics.sse_clients.dec()


async def _listed(events: list[JobEvent]) -> AsyncIterator[JobEvent | None]:
    for event in events:
        yield event


def _event_stream(
    request: Request,
    services: Services,
    job_id: str,
    after: int,
    ended: list[JobEvent] | None = None,
) -> Response:
    return EventSourceResponse(
        events(request, services, job_id, after, ended),
        ping=services.settings.sse_ping_s,
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
    )


def install_outage_handlers(app: FastAPI, retry_after_s: int) -> None:
    """A dependency that does not answer is a 503 with Retry-After, never a 500."""

    async def redis_down(_: Request, exc: Exception) -> JSONResponse:
        detail = "the job queue (Redis) is not answering; try again shortly"
        return ApiError(503, "redis_unavailable", detail, retry_after=retry_after_s).response()

    async def store_down(_: Request, exc: Exception) -> JSONResponse:
        detail = "the result store is not answering; try again shortly"
        return ApiError(503, "store_unavailable", detail, retry_after=retry_after_s).response()

    # BusyLoadingError (Redis reading its AOF after a restart) is a ConnectionError.
    for kind in (redis_errors.ConnectionError, redis_errors.TimeoutError):
        app.add_exception_handler(kind, redis_down)
    app.add_exception_handler(StoreError, store_down)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rq_redis = Redis.from_url(settings.redis_url)
        # Blocking: a burst of readers waits for a free connection instead of failing.
        pool = aredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=30
        )
        events_redis = aredis.Redis(connection_pool=pool)
        hub = EventHub(events_redis)
        await hub.start()
        probe_limits = httpx.Limits(max_connections=d.READY_PROBE_MAX_CONNECTIONS)
        async with (
            httpx.AsyncClient(timeout=d.READY_PROBE_TIMEOUT_S, limits=probe_limits) as http,
            scraping_client(settings.scrape) as scraping,
        ):
            services = Services(
                settings=settings,
                redis=events_redis,
                hub=hub,
                rq_redis=rq_redis,
                queue=Queue(names.QUEUE, connection=rq_redis),
                store=await anyio.to_thread.run_sync(open_store, settings.store),
                http=http,
                scraper=Scraper(settings.scrape, scraping),
                metrics=Metrics(rq_redis),
            )
            app.state.services = services
            try:
                yield
            finally:
                await hub.close()
                await services.redis.aclose()
                rq_redis.close()
                services.store.close()

    app = FastAPI(
        title="Segmento Pulse",
        summary="Article summaries streamed token by token, entities and narration.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", "Last-Event-ID"],
        )
    install_error_handlers(app)
    install_outage_handlers(app, settings.retry_after_s)
    writes = [Depends(require_api_key), Depends(limit_rate)]
    job_reads = [Depends(require_job_reader)]

    @app.post("/queue", response_model=SubmitResponse, status_code=202, dependencies=writes)
    async def post_queue(
        req: SubmitRequest, request: Request, services: ServicesDep
    ) -> JSONResponse:
        """Submit a URL or text. 202 with the job's URLs; 200 with `cached: true` when the
        same content, style and tasks were already done (unless `refresh`)."""
        code, body = await submit(req, services, access.client_address(services.settings, request))
        return JSONResponse(body.model_dump(), code)

    @app.get("/queue/{job_id}", response_model=JobStatus, dependencies=job_reads)
    async def get_job(job_id: str, services: ServicesDep) -> JobStatus:
        return await status_of(services, job_id)

    @app.get("/queue", response_model=QueueOverview, dependencies=[Depends(require_api_key)])
    async def get_queue(services: ServicesDep) -> QueueOverview:
        def overview() -> QueueOverview:
            from rq import Worker

            queue = services.queue
            return QueueOverview(
                depth=queue.count,
                workers=Worker.count(queue=queue),
                started=queue.started_job_registry.count,
                failed=queue.failed_job_registry.count,
                recent=[
                    {"job_id": r.job_id, "status": r.status, "title": r.title}
                    for r in services.store.recent(10)
                ],
            )

        return await anyio.to_thread.run_sync(overview)

    @app.get("/queue/{job_id}/events", response_class=Response, dependencies=job_reads)
    async def get_events(
        job_id: str,
        request: Request,
        services: ServicesDep,
        last_event_id: Annotated[int, Header(ge=0)] = 0,
    ) -> Response:
        """Server-Sent Events: every event from the start (or after Last-Event-ID), then
        live, ending after `done` or `error`. 204 (which stops a browser's EventSource from
        reconnecting) when the reader already has the ended job's last event."""
        ended = await ended_events(services, job_id, last_event_id)
        if ended == []:
            return Response(status_code=204)
        return _event_stream(request, services, job_id, last_event_id, ended)

    @app.get("/queue/{job_id}/audio", response_class=Response, dependencies=job_reads)
    async def get_audio(job_id: str, services: ServicesDep) -> Response:
        """The MP3 from the store, or from Redis while its store write waits (store down)."""
        mp3 = await services.redis.hget(names.pending_store_write(job_id), "audio")
        if mp3 is None:
            mp3 = await anyio.to_thread.run_sync(services.store.audio, job_id)
        if mp3 is None:
            raise ApiError(404, "not_found", f"no audio for job {job_id}")
        return Response(mp3, media_type="audio/mpeg")

    @app.post("/api/v4/scrape-and-summarize/stream", response_class=Response, dependencies=writes)
    async def legacy_stream(
        request: Request,
        services: ServicesDep,
        url: Annotated[str, Query(max_length=2048)],
        style: Style = "skimmer",
    ) -> Response:
        """The older client's one call: scrape, enqueue and stream the summary's events."""
        req = SubmitRequest(url=url, style=style, tasks=["summary"])
        _, body = await submit(req, services, access.client_address(services.settings, request))
        ended = await ended_events(services, body.job_id, 0)  # a cached result has ended
        return _event_stream(request, services, body.job_id, 0, ended)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Cheap and always fast, for uptime pings: touches nothing."""
        return {"status": "ok"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz(services: ServicesDep) -> JSONResponse:
        """503 naming each dependency that does not answer: redis, factory, store."""
        failing: dict[str, str] = {}
        try:
            await services.redis.ping()
        except Exception as exc:
            failing["redis"] = str(exc)
        try:
            r = await services.http.get(f"{settings.factory_url}/readyz", timeout=3)
            if r.status_code != 200:
                failing["factory"] = f"factory /readyz answered {r.status_code}"
        except httpx.HTTPError as exc:
            failing["factory"] = f"{type(exc).__name__}: {exc}"
        try:
            await anyio.to_thread.run_sync(services.store.ping)
        except Exception as exc:
            failing["store"] = str(exc)
        if failing:
            return JSONResponse({"ready": False, "failing": failing}, 503)
        return JSONResponse({"ready": True})

    @app.get("/metrics", response_class=Response, dependencies=[Depends(require_metrics_reader)])
    async def metrics(services: ServicesDep) -> Response:
        """Read-only: every replica and every scrape sees the workers' same totals."""
        return await anyio.to_thread.run_sync(lambda: services.metrics.render(services.queue.count))

    return app
