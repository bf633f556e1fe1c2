"""A real gateway app on a free loopback port, served as `python -m gateway` serves it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.__main__ import SERVER_OPTIONS
from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.servers import serve

WORDS = " ".join(f"word{i}" for i in range(80))


def text(tag: str) -> str:
    """An article text of enough words; distinct tags give distinct jobs."""
    return f"{tag} {WORDS}"


def gateway_settings(redis_url: str, tmp_path: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "factory_url": "http://127.0.0.1:9",  # nothing listens: no factory in these tests
        "store": StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "audio"
        ),
        **overrides,
    }
    return GatewaySettings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running_gateway(settings: GatewaySettings) -> Iterator[httpx.Client]:
    with (
        serve(create_app(settings), **SERVER_OPTIONS) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client
