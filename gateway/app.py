"""The public gateway ("Space A"): submit jobs, poll them, stream their events, get audio."""

from __future__ import annotations

import json
import secrets
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
from rq import Callback, Queue
from sse_starlette import EventSourceResponse

from gateway.metrics import Metrics
from gateway.scrape import ScrapeError, Scraper
from shared import defaults as d
from shared import redis_names as names
from shared.api import JobState, JobStatus, QueueOverview, SubmitRequest, SubmitResponse
from shared.eventlog import EventHub, follow, replay
from shared.events import EventType, JobEvent
from shared.http_errors import ApiError, BodyLimitMiddleware, install_error_handlers
from shared.jobs import JobRequest
from shared.jobstate import awrite_state, read_state
from shared.schemas import Style
from shared.settings import GatewaySettings
from shared.store import ResultStore, content_key, open_store


@dataclass
class Services:
    """Everything the routes use, opened in the lifespan and closed after it."""

    settings: GatewaySettings
    redis: aredis.Redis
    hub: EventHub
    rq_redis: Redis
    queue: Queue
    store: ResultStore
    http: httpx.AsyncClient
    scraper: Scraper
    metrics: Metrics


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Write endpoints need the API key when one is set (X-API-Key or Bearer)."""
    expected = services.settings.api_key
    if expected is None:
        return
    given = x_api_key or (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "a valid API key is required (X-API-Key header)")


async def limit_rate(request: Request, services: ServicesDep) -> None:
    """A fixed one-minute window of submissions per client address."""
    client = request.client.host if request.client else "unknown"
    key = names.submissions(client)
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


async def article_text(req: SubmitRequest, services: ServicesDep) -> tuple[str, str | None]:
    """The text to work on and its title: scraped from the URL, or as given."""
    settings = services.settings
    if req.url is not None:
        try:
            article = await services.scraper.scrape(req.url)
        except ScrapeError as exc:
            services.metrics.scrape_refused.labels(exc.code).inc()
            raise ApiError(422, exc.code, exc.detail) from exc
        return article.text, article.title
    assert req.text is not None
    size = len(req.text.encode())
    if size > settings.max_text_bytes:
        limit = settings.max_text_bytes
        raise ApiError(413, "text_too_large", f"text is {size} bytes; the limit is {limit}")
    words = len(req.text.split())
    if words < settings.min_words:
        raise ApiError(
            422, "too_few_words", f"text has {words} words; at least {settings.min_words} needed"
        )
    return req.text, None


def _urls(job_id: str) -> dict[str, str]:
    return {"status_url": f"/queue/{job_id}", "stream_url": f"/queue/{job_id}/events"}


async def submit(req: SubmitRequest, services: ServicesDep) -> tuple[int, SubmitResponse]:
    text, title = await article_text(req, services)
    labels = list(req.labels) if req.labels else None
    key = content_key(text, req.style, list(req.tasks), {"labels": labels, "voice": req.voice})
    if not req.refresh:
        stored = await anyio.to_thread.run_sync(services.store.find, key)
        if stored is not None:
            services.metrics.jobs_cached.inc()
            return 200, SubmitResponse(
                job_id=stored.job_id, status="finished", cached=True, **_urls(stored.job_id)
            )
        running = await services.redis.get(names.content(key))
        if running is not None:
            job_id = running.decode() if isinstance(running, bytes) else str(running)
            state = await job_state(services, job_id)
            if state in ("queued", "started"):
                return 202, SubmitResponse(job_id=job_id, status=state, **_urls(job_id))
    settings = services.settings
    depth = await anyio.to_thread.run_sync(lambda: services.queue.count)
    if depth >= settings.max_queue_depth:
        raise ApiError(
            429,
            "queue_full",
            f"{depth} jobs are waiting; try again later",
            retry_after=settings.retry_after_s,
        )
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

    def enqueue() -> None:
        services.queue.enqueue(
            "worker.jobs.run_job",
            request.model_dump(mode="json"),
            job_id=job_id,
            job_timeout=settings.job_timeout_s,
            result_ttl=settings.result_ttl_s,
            failure_ttl=settings.failure_ttl_s,
            on_failure=Callback("worker.jobs.on_failure"),
        )

    await awrite_state(
        services.redis,
        job_id,
        settings.job_timeout_s + settings.failure_ttl_s,
        "queued",
        stage="queued",
        progress=0.0,
    )
    await anyio.to_thread.run_sync(enqueue)
    await services.redis.set(names.content(key), job_id, ex=settings.job_timeout_s)
    services.metrics.jobs_submitted.inc()
    return 202, SubmitResponse(job_id=job_id, status="queued", **_urls(job_id))


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


async def ended_events(services: Services, job_id: str, after: int) -> list[JobEvent] | None:
    """For a job that is over: what its stream still owes a reader after `after`, ending
    with its terminal event (made from the job's status when the log expired or the worker
    has not published it yet). None while the job may still produce events; 404 for a job
    with neither a status nor logged events."""
    try:
        status = await status_of(services, job_id)
    except ApiError:
        if await services.redis.exists(names.events_log(job_id)):
            return None  # events logged, but no status (yet): still live
        raise
    if status.status not in ("finished", "failed"):
        return None
    logged = await replay(services.hub.client, job_id, 0)
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
    services.metrics.sse_clients.inc()
    try:
        source = _listed(ended) if ended is not None else follow(services.hub, job_id, after)
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


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rq_redis = Redis.from_url(settings.redis_url)
        timeout = httpx.Timeout(
            settings.scrape.read_timeout_s, connect=settings.scrape.connect_timeout_s
        )
        # Blocking: a burst of readers waits for a free connection instead of failing.
        pool = aredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=30
        )
        events_redis = aredis.Redis(connection_pool=pool)
        hub = EventHub(events_redis)
        await hub.start()
        async with httpx.AsyncClient(timeout=timeout) as http:
            services = Services(
                settings=settings,
                redis=events_redis,
                hub=hub,
                rq_redis=rq_redis,
                queue=Queue(names.QUEUE, connection=rq_redis),
                store=await anyio.to_thread.run_sync(open_store, settings.store),
                http=http,
                scraper=Scraper(settings.scrape, http),
                metrics=Metrics(),
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
    writes = [Depends(require_api_key), Depends(limit_rate)]

    @app.post("/queue", response_model=SubmitResponse, status_code=202, dependencies=writes)
    async def post_queue(req: SubmitRequest, services: ServicesDep) -> JSONResponse:
        """Submit a URL or text. 202 with the job's URLs; 200 with `cached: true` when the
        same content, style and tasks were already done (unless `refresh`)."""
        code, body = await submit(req, services)
        return JSONResponse(body.model_dump(), code)

    @app.get("/queue/{job_id}", response_model=JobStatus)
    async def get_job(job_id: str, services: ServicesDep) -> JobStatus:
        return await status_of(services, job_id)

    @app.get("/queue", response_model=QueueOverview)
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

    @app.get("/queue/{job_id}/events", response_class=Response)
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

    @app.get("/queue/{job_id}/audio", response_class=Response)
    async def get_audio(job_id: str, services: ServicesDep) -> Response:
        try:
            mp3 = await anyio.to_thread.run_sync(services.store.audio, job_id)
        except Exception as exc:
            raise ApiError(404, "not_found", f"no audio for job {job_id}") from exc
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
        _, body = await submit(req, services)
        ended = await ended_events(services, body.job_id, 0)  # a cached result has ended
        return _event_stream(request, services, body.job_id, 0, ended)

    @app.head("/health", include_in_schema=False)  # uptime monitors send HEAD
    @app.get("/health")
    async def health() -> dict[str, str]:
        """Cheap and always fast, for uptime pings: touches nothing."""
        return {"status": "ok"}

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.head("/readyz", include_in_schema=False)
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

    @app.get("/metrics", response_class=Response)
    async def metrics(services: ServicesDep) -> Response:
        depth = await anyio.to_thread.run_sync(lambda: services.queue.count)
        # Each observation is taken by exactly one gateway replica: Prometheus sums them.
        taken = await services.redis.lpop(names.OBSERVATIONS, d.OBSERVATIONS_MAX)
        services.metrics.absorb(taken if isinstance(taken, list) else [])
        return services.metrics.render(depth)

    return app
