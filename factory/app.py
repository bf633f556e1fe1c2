"""The factory's HTTP API (port 7860): /summarize, /extract, /highlights, /provenance,
/audio, /health, /readyz.

`create_app` only wires: state, lifespan, middleware, error handlers and the routers in
`factory.routes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from factory import openapi
from factory.models import Models
from factory.routes import audio, extract, health, highlights, provenance, summarize
from shared.http_errors import BodyLimitMiddleware, install_error_handlers
from shared.settings import FactorySettings


def create_app(settings: FactorySettings | None = None) -> FastAPI:
    settings = settings or FactorySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models = Models(settings)
        app.state.models = models
        models.start_loading()
        yield
        await anyio.to_thread.run_sync(models.close)

    app = FastAPIOffline(  # /docs and /redoc assets from the package: no CDN
        title="Segmento Pulse factory",
        summary="Internal model server: summaries, entities, narration (CPU only).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    install_error_handlers(app)
    for module in (health, summarize, extract, highlights, provenance, audio):
        app.include_router(module.router)
    openapi.install(app)
    return app
