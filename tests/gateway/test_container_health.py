"""Regression: the gateway's container healthcheck asked its `/readyz`, which is 503 while the
factory downloads its models, so the gateway showed unhealthy (and could be restarted) although
it served fine. The gateway's healthcheck is now its liveness (`/healthz`); the factory's stays
its readiness."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve


def loading_factory() -> FastAPI:
    """A factory still downloading its models: alive, not ready."""
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({"ready": False, "loading": ["llama"]}, 503)

    return app


def healthcheck(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.healthcheck", service],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_gateway_is_healthy_while_the_factory_loads_its_models(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with serve(loading_factory()) as factory:
        settings = GatewaySettings(
            _env_file=None,  # type: ignore[call-arg]
            redis_url=redis_server.db(20),
            factory_url=factory,
            store=StoreSettings(  # type: ignore[call-arg]
                _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
            ),
        )
        with serve(create_app(settings)) as gateway:
            assert httpx.get(f"{gateway}/readyz").status_code == 503  # still says what waits
            port = gateway.rsplit(":", 1)[1]
            result = healthcheck("gateway", GATEWAY_PORT=port)
            assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stdout
        factory_port = factory.rsplit(":", 1)[1]
        loading = healthcheck("factory", FACTORY_PORT=factory_port)
        assert loading.returncode == 1
        assert "/readyz answered 503" in loading.stdout
