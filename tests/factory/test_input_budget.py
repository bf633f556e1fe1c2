"""The input budget through POST /summarize, on the real SmolLM2 tokenizer and model and the
real embedder: what reaches the model, and what the response says about it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factory.app import create_app
from factory.sentences import split_sentences
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.factory.sse import stream_summary
from tests.servers import serve

BUDGET = 120


@pytest.fixture
def client(embedder_factory_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedder_factory_url, timeout=300) as c:
        yield c


def summarize(client: httpx.Client, text: str, **fields: Any) -> dict[str, Any]:
    body = {"text": text, "max_tokens": 40, "temperature": 0.0, **fields}
    r = client.post("/summarize", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_ranked_selection_keeps_whole_sentences_within_the_budget(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    text = articles["chips"]
    body = summarize(client, text, input_budget_tokens=BUDGET)
    assert body["input_selection"] == "ranked"
    assert body["input_budget_tokens"] == BUDGET
    assert body["article_tokens"] > BUDGET >= body["input_tokens"] > BUDGET // 2
    total = len(split_sentences(text))
    assert body["selected_sentences"] + body["dropped_sentences"] == total
    assert 1 <= body["selected_sentences"] < total
    assert body["timings"]["input_ms"] > 0
    assert body["truncated"] is False and body["summary"].strip()


def test_head_truncation_cuts_at_the_budget(client: httpx.Client, articles: dict[str, str]) -> None:
    body = summarize(client, articles["chips"], input_budget_tokens=BUDGET, input_selection="head")
    assert body["input_selection"] == "head"
    assert body["input_tokens"] == BUDGET < body["article_tokens"]
    assert body["selected_sentences"] >= 1 and body["dropped_sentences"] >= 1


def test_no_budget_and_an_article_under_budget_read_the_same_whole_article(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    text = articles["chips"]
    off = summarize(client, text, input_budget_tokens=0)
    assert off["input_selection"] == "off" and off["input_budget_tokens"] == 0
    assert off["input_tokens"] == off["article_tokens"]
    assert off["selected_sentences"] is None and off["dropped_sentences"] is None
    under = summarize(client, text, input_budget_tokens=off["article_tokens"] + 50)
    assert under["input_selection"] == "under_budget"
    assert under["input_tokens"] == off["input_tokens"] and under["dropped_sentences"] == 0
    assert under["prompt_tokens"] == off["prompt_tokens"]  # the very same prompt


def test_the_streamed_done_event_reports_the_input(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    body = {"text": articles["bridge"], "structured": True, "input_budget_tokens": BUDGET}
    _, kind, done = stream_summary(client, body)
    assert kind == "done", done
    assert done["input_selection"] == "ranked" and done["input_tokens"] <= BUDGET
    assert done["dropped_sentences"] >= 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("input_budget_tokens", -1), ("input_budget_tokens", 10**7), ("input_selection", "tail")],
)
def test_bad_input_budget_fields_are_422(
    client: httpx.Client, articles: dict[str, str], field: str, value: object
) -> None:
    r = client.post("/summarize", json={"text": articles["chips"], field: value})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
    assert field in [f["field"] for f in r.json()["fields"]]


def test_the_server_default_budget_applies_unless_a_request_says_otherwise(
    gguf_path: Path, articles: dict[str, str]
) -> None:
    settings = factory_settings(
        gguf_path,
        Path("unused"),
        ner_engine="spacy",
        tts_engines=["piper"],
        llm_input_budget_tokens=BUDGET,
    )
    with serve(create_app(settings)) as url:
        wait_all_loaded(url)
        with httpx.Client(base_url=url, timeout=300) as c:
            default = summarize(c, articles["chips"])
            assert default["input_budget_tokens"] == BUDGET
            assert default["input_selection"] == "ranked"
            assert (
                summarize(c, articles["chips"], input_budget_tokens=0)["input_selection"] == "off"
            )
