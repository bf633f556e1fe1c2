"""/audio: Edge-TTS fails for real (the test factories reach it through a closed loopback
port, with or without internet), so Piper speaks and MP3 comes back whole."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mutagen.mp3 import MP3

from factory.app import create_app
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.servers import serve


def _duration(mp3: bytes) -> float:
    return float(MP3(io.BytesIO(mp3)).info.length)


def _looks_like_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def test_edge_failure_falls_back_to_a_local_engine(client: httpx.Client) -> None:
    text = "Springfield will build a new bridge across the Willow River by 2027."
    r = client.post("/audio", json={"text": text})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.headers["x-tts-engine"] == "piper"
    assert "edge" in r.headers["x-tts-fallback"]
    assert int(r.headers["content-length"]) == len(r.content)
    assert _looks_like_mp3(r.content)
    assert 2.0 < _duration(r.content) < 15.0
    assert client.get("/health").json()["tts_last_engine"] == "piper"


def test_rate_changes_the_duration(client: httpx.Client) -> None:
    text = "The council voted seven to two on Tuesday night."
    slow = client.post("/audio", json={"text": text, "rate": "-30%"})
    fast = client.post("/audio", json={"text": text, "rate": "+60%"})
    assert _duration(slow.content) > 1.5 * _duration(fast.content)


@pytest.fixture(scope="module")
def edge_only(gguf_path: Path, gliner_dir: Path) -> Iterator[httpx.Client]:
    settings = factory_settings(
        gguf_path,
        gliner_dir,
        tts_engines=["edge"],
        ner_engine="spacy",
    )
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        with httpx.Client(base_url=base, timeout=60) as c:
            yield c


def test_when_every_engine_fails_the_answer_is_an_error_not_a_short_mp3(
    edge_only: httpx.Client,
) -> None:
    r = edge_only.post("/audio", json={"text": "Hello."})
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "tts_failed"
    assert "edge" in r.json()["detail"]
    # The engine's own exception text (aiohttp's "Cannot connect to host 127.0.0.1:...")
    # stays in the log; the client gets the reason in the factory's words.
    assert "127.0.0.1" not in r.json()["detail"] and "Cannot connect" not in r.json()["detail"]
