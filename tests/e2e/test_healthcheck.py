"""`python -m shared.healthcheck <service>`: the containers' HEALTHCHECK, against the real mesh."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlparse

from tests.e2e.conftest import Mesh
from tests.redis_fixtures import RedisServer
from tests.servers import free_port


def healthcheck(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.healthcheck", service],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def port_of(url: str) -> str:
    return str(urlparse(url).port)


def test_ready_services_are_healthy(mesh: Mesh) -> None:
    factory = healthcheck("factory", FACTORY_PORT=port_of(mesh.factory_url))
    assert (factory.returncode, factory.stdout.strip()) == (0, "ok")
    gateway = healthcheck("gateway", GATEWAY_PORT=port_of(mesh.gateway))
    assert (gateway.returncode, gateway.stdout.strip()) == (0, "ok")
    worker = healthcheck("worker", WORKER_REDIS_URL=mesh.redis_url)
    assert (worker.returncode, worker.stdout.strip()) == (0, "ok")


def test_unhealthy_services_say_why(mesh: Mesh, redis_server: RedisServer) -> None:
    nobody = healthcheck("gateway", GATEWAY_PORT=str(free_port()))
    assert nobody.returncode == 1
    assert "/healthz" in nobody.stdout and "refused" in nobody.stdout.lower()

    # no worker listens on this database
    no_worker = healthcheck("worker", WORKER_REDIS_URL=redis_server.db(10))
    assert no_worker.returncode == 1
    assert "no worker of host" in no_worker.stdout

    no_redis = healthcheck("worker", WORKER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert no_redis.returncode == 1
    assert no_redis.stdout.startswith("redis:")

    unknown = healthcheck("scheduler")
    assert unknown.returncode == 1
    assert "unknown service" in unknown.stdout
