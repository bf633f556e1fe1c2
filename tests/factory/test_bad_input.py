"""Every bad input gets a clear JSON error, and the server keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factory.app import create_app
from shared import defaults as d
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.servers import serve

TEXT = "The council approved the bridge."

CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("empty text", "/summarize", {"text": ""}, 422, "text"),
    ("whitespace text", "/summarize", {"text": " \n\t "}, 422, "text"),
    ("missing text", "/summarize", {"style": "eli5"}, 422, "text"),
    ("unknown style", "/summarize", {"text": TEXT, "style": "haiku"}, 422, "style"),
    ("max_tokens zero", "/summarize", {"text": TEXT, "max_tokens": 0}, 422, "max_tokens"),
    ("max_tokens huge", "/summarize", {"text": TEXT, "max_tokens": 10**6}, 422, "max_tokens"),
    ("temperature negative", "/summarize", {"text": TEXT, "temperature": -0.1}, 422, "temperature"),
    ("temperature too high", "/summarize", {"text": TEXT, "temperature": 2.5}, 422, "temperature"),
    ("unknown field", "/summarize", {"text": TEXT, "prompt": "x"}, 422, "prompt"),
    ("extract empty text", "/extract", {"text": ""}, 422, "text"),
    ("labels empty", "/extract", {"text": TEXT, "labels": []}, 422, "labels"),
    ("label blank", "/extract", {"text": TEXT, "labels": ["Person", "  "]}, 422, "labels"),
    (
        "too many labels",
        "/extract",
        {"text": TEXT, "labels": [f"L{i}" for i in range(d.NER_MAX_LABELS + 1)]},
        422,
        "labels",
    ),
    ("label too long", "/extract", {"text": TEXT, "labels": ["x" * 51]}, 422, "labels"),
    ("threshold below 0", "/extract", {"text": TEXT, "threshold": -0.01}, 422, "threshold"),
    ("threshold above 1", "/extract", {"text": TEXT, "threshold": 1.01}, 422, "threshold"),
    ("audio empty text", "/audio", {"text": "  "}, 422, "text"),
    ("unknown voice", "/audio", {"text": TEXT, "voice": "xx-XX-Nobody"}, 422, "voice"),
    ("rate malformed", "/audio", {"text": TEXT, "rate": "fast"}, 422, "rate"),
    ("rate out of range", "/audio", {"text": TEXT, "rate": "+500%"}, 422, "rate"),
    ("volume out of range", "/audio", {"text": TEXT, "volume": "-90%"}, 422, "volume"),
]


SURROGATE = "The bridge \ud800 opened."  # JSON "\ud800": a lone surrogate, no UTF-8 form
# Text with no UTF-8 form, or control characters that TTS would be fed. Before: surrogates and
# NUL in /audio were 500s carrying the exception's text (UnicodeEncodeError, "embedded null
# character"); other controls were spoken or used as labels; voices were `unknown_voice`.
UNICODE_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("summarize lone surrogate", "/summarize", {"text": SURROGATE}, "text", "surrogate"),
    ("summarize lone low surrogate", "/summarize", {"text": "\udfff"}, "text", "surrogate"),
    (
        "streamed summarize lone surrogate",
        "/summarize",
        {"text": SURROGATE, "stream": True},
        "text",
        "surrogate",
    ),
    ("extract lone surrogate", "/extract", {"text": SURROGATE}, "text", "surrogate"),
    (
        "label lone surrogate",
        "/extract",
        {"text": TEXT, "labels": ["P\ud800"]},
        "labels",
        "surrogate",
    ),
    ("label newline", "/extract", {"text": TEXT, "labels": ["Per\nson"]}, "labels", "U+000A"),
    ("audio lone surrogate", "/audio", {"text": SURROGATE}, "text", "surrogate"),
    ("audio NUL", "/audio", {"text": "The bridge\x00 opened."}, "text", "U+0000"),
    ("audio bell", "/audio", {"text": "The bridge\x07 opened."}, "text", "U+0007"),
    ("audio escape", "/audio", {"text": "\x1b[31mThe bridge"}, "text", "U+001B"),
    ("voice lone surrogate", "/audio", {"text": TEXT, "voice": "en-\ud800"}, "voice", "surrogate"),
    ("voice NUL", "/audio", {"text": TEXT, "voice": "en-US-Aria\x00"}, "voice", "U+0000"),
]


def post_json(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST `body` as JSON with non-ASCII escaped, so a lone surrogate goes out as `\\ud800`."""
    headers = {"content-type": "application/json"}
    return client.post(path, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.parametrize(
    ("path", "body", "field", "reason"),
    [c[1:] for c in UNICODE_CASES],
    ids=[c[0] for c in UNICODE_CASES],
)
def test_text_with_no_utf8_form_or_control_characters_is_422_not_500(
    client: httpx.Client, path: str, body: dict[str, Any], field: str, reason: str
) -> None:
    r = post_json(client, path, body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "invalid_request"
    assert err["fields"][0]["field"].startswith(field), err
    assert reason in err["detail"], err


def test_text_with_tabs_and_newlines_is_still_spoken(client: httpx.Client) -> None:
    r = client.post("/audio", json={"text": "The bridge opened.\n\tIt is long.\r\n"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("path", "body", "status", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_with_a_reason(
    client: httpx.Client, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["error"] in ("invalid_request", "unknown_voice")
    assert field in err["detail"]


def test_body_that_is_not_json_is_refused(client: httpx.Client) -> None:
    r = client.post(
        "/summarize", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"


def test_text_over_the_byte_limit_is_413(client: httpx.Client) -> None:
    text = "é" * (d.MAX_TEXT_BYTES // 2 + 1)  # under the limit in characters, over it in bytes
    for path in ("/summarize", "/extract"):
        r = client.post(path, json={"text": text})
        assert r.status_code == 413, path
        assert r.json()["error"] == "text_too_large"
    r = client.post("/audio", json={"text": "a" * (d.MAX_AUDIO_TEXT_BYTES + 1)})
    assert r.status_code == 413


def test_request_body_over_the_limit_is_413_before_parsing(client: httpx.Client) -> None:
    r = client.post("/summarize", json={"text": "a" * (d.MAX_REQUEST_BYTES + 10)})
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"text": "'
        for _ in range(d.MAX_REQUEST_BYTES // 10_000 + 2):
            yield b"a" * 10_000
        yield b'"}'

    headers = {"content-type": "application/json"}
    r = client.post("/summarize", content=chunks(), headers=headers)  # no Content-Length
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_server_still_answers_after_bad_input(client: httpx.Client) -> None:
    assert client.post("/summarize", json={"text": TEXT, "max_tokens": 8}).status_code == 200


@pytest.fixture(scope="module")
def guarded(gguf_path: Path, gliner_dir: Path) -> Iterator[str]:
    settings = factory_settings(gguf_path, gliner_dir, internal_token="s3cret", ner_engine="spacy")
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        yield base


def test_internal_token_is_required_when_set(guarded: str) -> None:
    body = {"text": TEXT, "max_tokens": 4}
    assert httpx.post(f"{guarded}/summarize", json=body, timeout=60).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    r = httpx.post(f"{guarded}/extract", json=body | {"max_tokens": None}, headers=wrong)
    assert r.status_code in (401, 422)
    assert httpx.post(f"{guarded}/extract", json={"text": TEXT}, headers=wrong).status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    r = httpx.post(f"{guarded}/summarize", json=body, headers=good, timeout=60)
    assert r.status_code == 200
    assert httpx.get(f"{guarded}/health").status_code == 200  # health stays open
