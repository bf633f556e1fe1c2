"""POST /queue refuses text with no UTF-8 form or with control characters: 422, never 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve

WORDS = " ".join(f"word{i}" for i in range(80))
DB = 23


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[str]:
    tmp = Path(tmp_path_factory.mktemp("gateway"))
    r = redis.Redis.from_url(redis_server.db(DB))
    r.flushdb()
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_server.db(DB),
        factory_url="http://127.0.0.1:9",
        store=StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp / "db", audio_dir=tmp / "audio"
        ),
    )
    with serve(create_app(settings)) as base:
        yield base
    r.flushdb()
    r.close()


# Each used to be a 500 whose body carried the exception's text (UnicodeEncodeError).
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("text lone surrogate", {"text": f"\ud800 {WORDS}"}, "text", "surrogate"),
    ("text lone low surrogate", {"text": f"{WORDS} \udc00"}, "text", "surrogate"),
    ("text NUL", {"text": f"{WORDS}\x00"}, "text", "U+0000"),
    ("text escape", {"text": f"\x1b[2J{WORDS}"}, "text", "U+001B"),
    ("url lone surrogate", {"url": "https://news.example/\ud800"}, "url", "surrogate"),
    ("url tab", {"url": "https://news.example/a\tb"}, "url", "U+0009"),
    ("url NUL", {"url": "https://news.example/\x00"}, "url", "U+0000"),
    ("labels lone surrogate", {"text": WORDS, "labels": ["Per\ud800"]}, "labels", "surrogate"),
    ("labels newline", {"text": WORDS, "labels": ["Per\nson"]}, "labels", "U+000A"),
    ("voice lone surrogate", {"text": WORDS, "voice": "en-US-\ud800"}, "voice", "surrogate"),
    ("voice control character", {"text": WORDS, "voice": "en-US\x7f"}, "voice", "U+007F"),
]


@pytest.mark.parametrize(
    ("body", "field", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_text_is_422_with_the_field_named_not_500(
    gateway: str, body: dict[str, Any], field: str, reason: str
) -> None:
    raw = json.dumps(body).encode()  # non-ASCII escaped: a lone surrogate goes out as \ud800
    headers = {"content-type": "application/json"}
    r = httpx.post(f"{gateway}/queue", content=raw, headers=headers, timeout=30)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "invalid_request"
    assert err["fields"][0]["field"].startswith(field), err
    assert reason in err["detail"], err


def test_text_with_tabs_and_newlines_is_accepted(gateway: str) -> None:
    text = "First paragraph.\n\n\t" + WORDS + "\r\n"
    r = httpx.post(f"{gateway}/queue", json={"text": text}, timeout=30)
    assert r.status_code == 202, r.text
