"""The public gateway ("Space A"): submit jobs, poll them, stream their events, get audio.

`create_app` only wires: services opened in the lifespan, middleware, error handlers, and
the routers in `gateway.routes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import redis.asyncio as aredis
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from redis import Redis
from redis import exceptions as redis_errors
from rq import Queue

from gateway import openapi
from gateway.factory_model import FactoryModel, watch
from gateway.metrics import Metrics
from gateway.routes import legacy, ops, queue, web
from gateway.scrape import Scraper, scraping_client
from gateway.services import Services
from shared import defaults as d
from shared import redis_names as names
from shared.eventlog import EventHub
from shared.http_errors import ApiError, BodyLimitMiddleware, install_error_handlers
from shared.redis_retry import async_retry_for, retry_for
from shared.settings import GatewaySettings
from shared.store import StoreError, open_store


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
        # A Redis restart (stale pooled connections, Redis loading its AOF) is ridden out
        # for `redis_retry_s` within the request; beyond that the request is a 503.
        rq_redis = Redis.from_url(settings.redis_url, retry=retry_for(settings.redis_retry_s))
        # Blocking: a burst of readers waits for a free connection instead of failing.
        pool = aredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=30,
            retry=async_retry_for(settings.redis_retry_s),
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
            app.state.factory_model = FactoryModel()
            watcher = asyncio.create_task(
                watch(http, settings.factory_url, app.state.factory_model)
            )
            try:
                yield
            finally:
                watcher.cancel()
                await hub.close()
                await services.redis.aclose()
                rq_redis.close()
                services.store.close()

    app = FastAPIOffline(  # /docs and /redoc assets from the package: no CDN
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
            allow_headers=[
                "Content-Type",
                "X-API-Key",
                "Authorization",
                "X-Read-Token",
                "Last-Event-ID",
            ],
        )
    install_error_handlers(app)
    install_outage_handlers(app, settings.retry_after_s)
    for routes in (queue.router, legacy.router, ops.router):
        app.include_router(routes)
    openapi.install(app)
    if settings.web_ui:
        app.include_router(web.router)
        app.mount("/web", web.static_files(), name="web")
    return app
