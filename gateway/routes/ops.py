"""For operators: liveness for uptime pings, readiness for orchestrators, Prometheus metrics."""

from __future__ import annotations

import logging

import anyio
import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gateway.openapi import KEY_SECURITY, UNAVAILABLE
from gateway.services import ServicesDep, require_metrics_reader
from shared import redis_names as names
from shared.api import Readiness
from shared.healthcheck import live_workers
from shared.http_errors import error_response

router = APIRouter()
log = logging.getLogger(__name__)


def _unreachable(dependency: str, exc: BaseException) -> str:
    """A public reason: the exception's type only (its text can name hosts, ports, users);
    the full text goes to the log."""
    log.warning("readiness: %s failed: %s: %s", dependency, type(exc).__name__, exc)
    return f"{dependency} unreachable ({type(exc).__name__})"


@router.head("/health", include_in_schema=False)  # uptime monitors send HEAD
@router.get("/health")
async def health(request: Request) -> dict[str, str | bool | None]:
    """Cheap and always fast, for uptime pings: touches nothing. `demo_model` says whether
    the factory's LLM is the bundled demo model (null until the factory has been seen)."""
    seen = getattr(request.app.state, "factory_model", None)
    return {"status": "ok", "demo_model": seen.demo if seen else None}


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: `failing` says why"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """503 naming each dependency that does not answer (redis, factory, store), or
    `workers` when no worker is alive."""
    failing: dict[str, str] = {}
    try:
        await services.redis.ping()
    except Exception as exc:
        failing["redis"] = _unreachable("redis", exc)
    try:
        r = await services.http.get(f"{services.settings.factory_url}/readyz", timeout=3)
        if r.status_code != 200:
            failing["factory"] = f"factory /readyz answered {r.status_code}"
    except httpx.HTTPError as exc:
        failing["factory"] = _unreachable("factory", exc)
    try:
        await anyio.to_thread.run_sync(services.store.ping)
    except Exception as exc:
        failing["store"] = _unreachable("store", exc)
    try:
        if not await anyio.to_thread.run_sync(live_workers, services.rq_redis):
            failing["workers"] = f"no live worker on queue {names.QUEUE!r}"
    except Exception as exc:
        failing.setdefault("redis", _unreachable("redis", exc))
    if failing:
        return JSONResponse({"ready": False, "failing": failing}, 503)
    return JSONResponse({"ready": True})


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_reader)],
    openapi_extra=KEY_SECURITY,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: error_response(
            "neither the API key nor the metrics token (`unauthorized`), when the gateway "
            "has either"
        ),
        **UNAVAILABLE,
    },
)
async def metrics(services: ServicesDep) -> Response:
    """Read-only: every replica and every scrape sees the workers' same totals."""
    return await anyio.to_thread.run_sync(lambda: services.metrics.render(services.queue.count))
