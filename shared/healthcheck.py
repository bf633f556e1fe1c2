"""`python -m shared.healthcheck factory|gateway|worker`: a container's HEALTHCHECK.

Exits 0 when the service in this container is healthy, else 1 with the reason on stdout
(Docker keeps it in `docker inspect`). The factory is healthy when it is ready (its models are
loaded: workers wait for that); the gateway when it is alive (`/healthz`), not when everything
it depends on is ready: a factory still downloading its models must not make the gateway
unhealthy (and restarted). Standard library only, except Redis for the worker.
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from shared.settings import FactorySettings, GatewaySettings, WorkerSettings

if TYPE_CHECKING:
    import redis

TIMEOUT_S = 4.0


def http_ok(port: int, path: str) -> str | None:
    """None when GET `path` on this host answers 200, else why not."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}: {exc.read(500).decode(errors='replace')}"
    except OSError as exc:
        return f"{url}: {exc}"


def live_workers(connection: redis.Redis) -> list[str]:
    """Keys of the workers registered on the Pulse queue whose heartbeat has not expired
    (a worker's key lives `WORKER_HEARTBEAT_TTL_S` past its last heartbeat)."""
    from rq.worker_registration import WORKERS_BY_QUEUE_KEY

    from shared import redis_names as names

    members = connection.smembers(WORKERS_BY_QUEUE_KEY % names.QUEUE)
    keys = sorted(k.decode() if isinstance(k, bytes) else k for k in members)
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.exists(key)
        alive = pipe.execute() if keys else []
    return [key for key, exists in zip(keys, alive, strict=True) if exists]


def worker_registered(settings: WorkerSettings) -> str | None:
    """None when a live worker of this host is registered in Redis."""
    import redis
    from rq import Worker

    from shared import redis_names as names

    connection = redis.Redis.from_url(settings.redis_url, socket_timeout=TIMEOUT_S)
    host = socket.gethostname()
    try:
        workers = Worker.all(connection=connection)  # only those whose heartbeat lives
    except redis.RedisError as exc:
        return f"redis: {exc}"
    mine = [w for w in workers if w.hostname == host and names.QUEUE in w.queue_names()]
    return None if mine else f"no worker of host {host} is registered on {names.QUEUE!r}"


def check(service: str) -> str | None:
    if service == "factory":
        return http_ok(FactorySettings().port, "/readyz")
    if service == "gateway":
        return http_ok(GatewaySettings().port, "/healthz")
    if service == "worker":
        return worker_registered(WorkerSettings())
    return f"unknown service {service!r} (factory, gateway or worker)"


def main(argv: list[str]) -> int:
    problem = check(argv[1] if len(argv) > 1 else "")
    if problem:
        print(problem)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
