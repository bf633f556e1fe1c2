"""HEAD on the health routes answers like GET without a body (uptime monitors send HEAD)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[str]:
    tmp = Path(tmp_path_factory.mktemp("gateway"))
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_server.db(24),
        factory_url="http://127.0.0.1:9",  # nothing listens: the gateway is not ready
        store=StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp / "db", audio_dir=tmp / "audio"
        ),
    )
    with serve(create_app(settings)) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "status"), [("/health", 200), ("/healthz", 200), ("/readyz", 503)]
)
def test_head_on_health_routes_answers_like_get_without_a_body(
    gateway: str, path: str, status: int
) -> None:
    got = httpx.get(f"{gateway}{path}", timeout=30)
    head = httpx.head(f"{gateway}{path}", timeout=30)
    assert got.status_code == status
    assert head.status_code == status, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 0
