"""The whole mesh: a factory process, an RQ worker process, the gateway, real Redis and
PostgreSQL, and a local web site to scrape."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from rq import Queue, Worker

from factory import offline
from gateway.app import create_app
from shared.settings import GatewaySettings, ScrapeSettings, StoreSettings
from tests.factory.conftest import DEAD_PROXY
from tests.gateway.pages import site
from tests.redis_fixtures import RedisServer
from tests.servers import free_port, serve, wait_until

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
INTERNAL_TOKEN = "e2e-internal-token"


@dataclass
class Mesh:
    gateway: str
    site: str
    factory: subprocess.Popen[bytes]
    redis: redis.Redis
    factory_url: str
    redis_url: str


def _process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=out)


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Mesh]:
    # A database of its own: its queue is ours.
    with start_mesh(tmp_path_factory.mktemp("logs"), redis_server.db(9)) as running:
        yield running


@contextmanager
def start_mesh(
    logs: Path, e2e_redis: str, factory_extra: dict[str, str] | None = None
) -> Iterator[Mesh]:
    """Factory and worker processes, the gateway and a site to scrape, on an empty Redis
    database and a new PostgreSQL database; `factory_extra` adds to the factory's settings."""
    r = redis.Redis.from_url(e2e_redis)
    r.flushdb()
    db = f"pulse_e2e_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f"create database {db}".encode())
    database_url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    factory_port = free_port()
    factory_env = {
        "HF_HUB_OFFLINE": "1",
        "FACTORY_PORT": str(factory_port),
        "FACTORY_LLM_MODEL_PATH": str(offline.smollm2_gguf()),
        "FACTORY_LLM_N_CTX": "2048",
        "FACTORY_LLM_MAX_OUTPUT_TOKENS": "768",
        "FACTORY_NER_ENGINE": "spacy",
        "FACTORY_EMBEDDING_MODEL": str(offline.minilm_dir()),
        "FACTORY_TTS_ENGINES": '["edge","piper"]',
        "FACTORY_EDGE_TTS_TIMEOUT_S": "5",
        "FACTORY_EDGE_TTS_PROXY": DEAD_PROXY,  # Edge fails, with or without internet
        "FACTORY_INTERNAL_TOKEN": INTERNAL_TOKEN,  # the worker must present it
        **(factory_extra or {}),
    }
    factory = _process([sys.executable, "-m", "factory"], factory_env, logs / "factory.log")
    factory_url = f"http://127.0.0.1:{factory_port}"
    store_env = {"STORE_BACKEND": "postgres", "DATABASE_URL": database_url}
    worker_env = {
        **store_env,
        "WORKER_REDIS_URL": e2e_redis,
        "WORKER_FACTORY_URL": factory_url,
        "WORKER_RETRY_ATTEMPTS": "2",
        "WORKER_RETRY_MAX_WAIT_S": "1",
        "WORKER_FACTORY_TOKEN": INTERNAL_TOKEN,
    }
    worker = _process([sys.executable, "-m", "worker"], worker_env, logs / "worker.log")
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=e2e_redis,
        factory_url=factory_url,
        min_words=20,
        sse_ping_s=1,  # readers must skip keep-alive pings; every job here outlasts one
        submissions_per_minute=1000,
        scrape=ScrapeSettings(_env_file=None, allowed_networks=[ip_network("127.0.0.1/32")]),  # type: ignore[call-arg]
        store=StoreSettings(_env_file=None, backend="postgres", database_url=database_url),  # type: ignore[call-arg]
    )
    try:
        wait_until(lambda: _answers(f"{factory_url}/readyz"), timeout=180)
        queue = Queue("pulse", connection=r)
        wait_until(lambda: Worker.count(queue=queue) >= 1, timeout=60)
        with serve(site(64 * 1024)) as site_url, serve(create_app(settings)) as gateway_url:
            yield Mesh(gateway_url, site_url, factory, r, factory_url, e2e_redis)
    finally:
        for proc in (worker, factory):
            proc.terminate()
            proc.wait(timeout=60)
        r.flushdb()
        r.close()
        admin.execute(f"drop database {db} with (force)".encode())
        admin.close()
        print((logs / "worker.log").read_text()[-3000:])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
