"""scripts/ensure-services.sh: what `make test` and `make run` do when Redis or PostgreSQL is
not running."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import redis

from tests.redis_fixtures import RedisServer
from tests.servers import free_port

SCRIPT = Path(__file__).parents[1] / "scripts" / "ensure-services.sh"


def ensure(*services: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *services],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_running_services_are_left_alone(redis_server: RedisServer) -> None:
    """The session's private Redis (never one on 6379, which may not exist here) and the
    PostgreSQL the tests use."""
    run = ensure("redis", "postgres", PULSE_REDIS_PORT=str(redis_server.port))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""


def test_a_missing_redis_is_started_from_the_local_binary(tmp_path: Path) -> None:
    port = free_port()
    run = ensure("redis", PULSE_REDIS_PORT=str(port), TMPDIR=str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert f"starting redis-server on 127.0.0.1:{port}" in run.stdout
    client = redis.Redis(port=port)
    try:
        assert client.ping()
    finally:
        client.shutdown(nosave=True)


def test_without_the_binaries_it_says_what_is_missing(tmp_path: Path) -> None:
    # A PATH with bash and coreutils but neither redis nor PostgreSQL tools.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "seq", "sleep", "ls", "mkdir"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "PULSE_REDIS_PORT": str(free_port())}
    redis_run = ensure("redis", **env)
    assert redis_run.returncode == 1
    assert "redis-server is not installed" in redis_run.stderr

    pg_run = ensure("postgres", PATH=str(bin_dir), PULSE_PG_PORT=str(free_port()))
    assert pg_run.returncode == 1
    assert (
        "no PostgreSQL answers" in pg_run.stderr and "apt-get install postgresql" in pg_run.stderr
    )

    unknown = ensure("mongodb")
    assert unknown.returncode == 2
    assert "unknown service mongodb" in unknown.stderr
