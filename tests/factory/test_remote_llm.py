"""The remote LLM backend (FACTORY_LLM_BACKEND=openai) against llama-cpp-python's real
OpenAI-compatible server on loopback: health, faults (429 with Retry-After, a server killed
mid-stream, a stream without [DONE], a server ignoring max_tokens) and bad settings."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from factory.app import create_app
from shared.schemas import StructuredSummary
from shared.sse import dispatched
from tests.factory.conftest import remote_settings, wait_all_loaded
from tests.factory.sse import stream_summary
from tests.openai_servers import MODEL_ALIAS, Faults, LlamaCppServer, faulty_proxy, llama_cpp_server
from tests.servers import free_port, serve, wait_until


@pytest.fixture
def remote(remote_factory_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=remote_factory_url, timeout=300) as c:
        yield c


def test_health_names_the_remote_backend_and_that_it_answers(
    remote: httpx.Client, openai_server: LlamaCppServer
) -> None:
    health = remote.get("/health").json()
    assert health["status"] == "healthy", health
    backend = health["llm_backend"]
    assert backend["kind"] == "openai"
    assert backend["url"] == openai_server.url
    assert backend["model"] == MODEL_ALIAS  # the first model the server lists
    assert backend["reachable"] is True
    assert health["demo_model"] is False and health["llama_loaded"] is True
    assert remote.get("/readyz").status_code == 200


def test_a_server_without_json_schema_gets_json_mode_with_the_schema(
    remote: httpx.Client, articles: dict[str, str]
) -> None:
    """llama-cpp-python's server refuses response_format json_schema (422): the factory
    falls back to json_object with the schema, remembers it, and the summary validates."""
    r = remote.post("/summarize", json={"text": articles["chips"], "structured": True})
    assert r.status_code == 200, r.text
    StructuredSummary.model_validate(r.json()["structured"])
    assert remote.get("/health").json()["llm_backend"]["structured_output"] == "json_object"


@pytest.fixture(scope="module")
def proxied(gguf_path: Path, openai_server: LlamaCppServer) -> Iterator[tuple[Faults, str]]:
    """A factory whose remote server sits behind a proxy that injects faults."""
    faults = Faults()
    with serve(faulty_proxy(openai_server.url, faults)) as proxy:
        settings = remote_settings(gguf_path, f"{proxy}/v1", llm_remote_retry_total_s=6)
        with serve(create_app(settings)) as factory:
            wait_all_loaded(factory)
            yield faults, factory


def _forms(faults: Faults) -> list[str | None]:
    """The `response_format` type of each request the proxy saw (None: none asked)."""
    return [(b.get("response_format") or {}).get("type") for b in faults.seen]


def _structured_summary(factory: str, text: str) -> StructuredSummary:
    r = httpx.post(f"{factory}/summarize", json={"text": text, "structured": True}, timeout=300)
    assert r.status_code == 200, r.text
    return StructuredSummary.model_validate(r.json()["structured"])


def _reset(faults: Faults) -> None:
    fresh = Faults()
    for name in vars(fresh):
        setattr(faults, name, getattr(fresh, name))


def test_429_with_retry_after_is_waited_out_then_served(
    proxied: tuple[Faults, str], articles: dict[str, str]
) -> None:
    faults, url = proxied
    _reset(faults)
    faults.refuse_429, faults.retry_after = 2, "1"
    r = httpx.post(
        f"{url}/summarize", json={"text": articles["chips"], "max_tokens": 20}, timeout=120
    )
    assert r.status_code == 200, r.text
    assert r.json()["summary"]
    assert len(faults.seen) == 3  # two refused, the third served
    gaps = [b - a for a, b in zip(faults.seen_at, faults.seen_at[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # Retry-After: 1 honoured each time


def test_429_beyond_the_retry_time_is_a_503_with_retry_after(
    proxied: tuple[Faults, str], articles: dict[str, str]
) -> None:
    faults, url = proxied
    _reset(faults)
    faults.refuse_429, faults.retry_after = 1000, "2"
    r = httpx.post(
        f"{url}/summarize", json={"text": articles["chips"], "max_tokens": 20}, timeout=120
    )
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "remote_llm_busy"
    assert "429" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1
    assert 2 <= len(faults.seen) <= 5  # retried within llm_remote_retry_total_s, then gave up
    faults.refuse_429 = 0


def test_a_stream_that_ends_without_done_is_an_error(
    proxied: tuple[Faults, str], articles: dict[str, str]
) -> None:
    faults, url = proxied
    _reset(faults)
    faults.drop_done = True
    with httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/summarize", json={"text": articles["chips"], "max_tokens": 20})
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "remote_llm_failed"
        assert "[DONE]" in r.json()["detail"]
        tokens, final, data = stream_summary(client, {"text": articles["chips"], "max_tokens": 20})
        assert final == "error" and data["error"] == "remote_llm_failed", data
        assert tokens, "the pieces before the break were streamed"
    assert len(faults.seen) == 2  # never retried once tokens went out
    _reset(faults)


def test_a_server_ignoring_max_tokens_is_cut_at_the_cap(
    proxied: tuple[Faults, str], articles: dict[str, str]
) -> None:
    faults, url = proxied
    _reset(faults)
    faults.max_tokens = 300  # the proxy asks the server for far more than the factory did
    r = httpx.post(
        f"{url}/summarize", json={"text": articles["sleep"], "max_tokens": 12}, timeout=120
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["finish_reason"] == "length"
    assert 0 < body["output_tokens"] <= 12
    assert faults.seen[-1]["max_tokens"] == 12  # what the factory asked for
    _reset(faults)


def test_json_schema_refused_with_400_falls_back_and_cut_json_gets_one_repair(
    gguf_path: Path, openai_server: LlamaCppServer, articles: dict[str, str]
) -> None:
    faults = Faults(status_for_response_format={"json_schema": 400})
    with (
        serve(faulty_proxy(openai_server.url, faults)) as proxy,
        serve(create_app(remote_settings(gguf_path, f"{proxy}/v1"))) as factory,
    ):
        wait_all_loaded(factory)
        body = {"text": articles["bridge"], "structured": True}
        _structured_summary(factory, articles["bridge"])
        assert _forms(faults) == ["json_schema", "json_object"]
        # JSON cut short by the cap: one repair request (same form), then a clear error.
        faults.seen.clear()
        r = httpx.post(f"{factory}/summarize", json={**body, "max_tokens": 12}, timeout=300)
        assert r.status_code == 502 and r.json()["error"] == "unparseable_output", r.text
        assert _forms(faults) == ["json_object", "json_object"]
        assert faults.seen[1]["messages"][-2]["role"] == "assistant"  # the broken answer


def test_a_request_refused_for_another_reason_leaves_the_structured_form_as_it_was(
    gguf_path: Path, openai_server: LlamaCppServer, articles: dict[str, str]
) -> None:
    """Bad input: an article longer than the server's context (the factory was told 8192).
    A server such as llama-server or vLLM refuses it with 400 whatever the form; that is the
    job's error, and it must not leave every later summary with the prompt alone: the next
    request still finds json_schema refused (the real server's 422) and json_object kept."""
    faults = Faults(context_chars=8000)
    with serve(faulty_proxy(openai_server.url, faults)) as proxy:
        settings = remote_settings(gguf_path, f"{proxy}/v1", llm_remote_context_tokens=8192)
        with serve(create_app(settings)) as factory:
            wait_all_loaded(factory)
            long = "\n\n".join([articles["chips"]] * 12)  # ~4,000 tokens
            r = httpx.post(
                f"{factory}/summarize", json={"text": long, "structured": True}, timeout=300
            )
            assert r.status_code == 502 and r.json()["error"] == "remote_llm_failed", r.text
            assert "exceeds the available context size" in r.json()["detail"], r.text
            assert _forms(faults) == ["json_schema", "json_object", None]  # each form once
            health = httpx.get(f"{factory}/health").json()
            assert health["llm_backend"]["structured_output"] == "json_schema"

            faults.seen.clear()
            _structured_summary(factory, articles["chips"])
            assert _forms(faults) == ["json_schema", "json_object"]
            health = httpx.get(f"{factory}/health").json()
            assert health["llm_backend"]["structured_output"] == "json_object"


def test_bad_input_an_article_over_llama_cpp_servers_context_is_a_clear_error(
    gguf_path: Path, openai_server: LlamaCppServer, articles: dict[str, str]
) -> None:
    """llama_cpp.server answers a streamed request over its context (2048 here; the factory
    was told 8192) with an empty event stream: the error says so and names the setting."""
    settings = remote_settings(gguf_path, openai_server.url, llm_remote_context_tokens=8192)
    with serve(create_app(settings)) as factory:
        wait_all_loaded(factory)
        long = "\n\n".join([articles["chips"]] * 12)
        r = httpx.post(f"{factory}/summarize", json={"text": long}, timeout=300)
        assert r.status_code == 502 and r.json()["error"] == "remote_llm_failed", r.text
        assert "sent nothing" in r.json()["detail"], r.text
        assert "FACTORY_LLM_REMOTE_CONTEXT_TOKENS" in r.json()["detail"], r.text
        r = httpx.post(f"{factory}/summarize", json={"text": articles["chips"]}, timeout=300)
        assert r.status_code == 200 and r.json()["summary"], r.text


def test_the_bounded_queue_refuses_beyond_it_with_429(
    remote: httpx.Client, articles: dict[str, str]
) -> None:
    """One generation at a time (llm_remote_concurrency=1) plus one waiting: a third is 429."""
    wait_until(lambda: remote.get("/health").json()["gates"]["llm"]["active"] == 0)
    results: list[int] = []
    started = threading.Event()

    def waiting() -> None:
        started.wait(60)
        with httpx.Client(base_url=str(remote.base_url), timeout=300) as c:
            results.append(
                c.post("/summarize", json={"text": "A cat sat.", "max_tokens": 5}).status_code
            )

    thread = threading.Thread(target=waiting)
    thread.start()
    body = {"text": articles["sleep"], "max_tokens": 200, "stream": True}
    with connect_sse(remote, "POST", "/summarize", json=body) as first:
        events = first.iter_sse()
        assert next(events).event == "token"
        started.set()
        wait_until(lambda: remote.get("/health").json()["gates"]["llm"]["waiting"] == 1, timeout=30)
        third = remote.post("/summarize", json={"text": "A dog ran.", "max_tokens": 5})
        assert third.status_code == 429, third.text
        assert third.json()["error"] == "busy" and "retry-after" in third.headers
        assert [e.event for e in dispatched(events)][-1] == "done"
    thread.join(120)
    assert results == [200]


def test_the_server_killed_mid_stream_fails_that_summary_and_health_says_so(
    gguf_path: Path, tmp_path: Path, articles: dict[str, str]
) -> None:
    with (
        llama_cpp_server(gguf_path, tmp_path / "server.log") as server,
        serve(create_app(remote_settings(gguf_path, server.url))) as factory,
    ):
        wait_all_loaded(factory)
        with httpx.Client(base_url=factory, timeout=120) as client:
            body = {"text": articles["sleep"], "max_tokens": 400, "stream": True}
            with connect_sse(client, "POST", "/summarize", json=body) as source:
                events = dispatched(source.iter_sse())
                assert next(events).event == "token"
                server.proc.send_signal(signal.SIGKILL)
                rest = list(events)
            assert rest[-1].event == "error", [e.event for e in rest[-3:]]
            error = json.loads(rest[-1].data)
            assert error["error"] == "remote_llm_failed", error
            assert "broke" in error["detail"]

            def degraded() -> dict[str, Any] | None:
                health = client.get("/health").json()
                return health if health["status"] == "degraded" else None

            health = wait_until(degraded, timeout=30)
            assert health["llm_backend"]["reachable"] is False
            assert any("does not answer" in w for w in health["warnings"])
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "llm" in ready.json()["waiting_for"]
            # Nothing else is affected: the embedder's routes still answer.
            r = client.post("/highlights", json={"text": articles["chips"]})
            assert r.status_code == 200, r.text
            r = client.post("/summarize", json={"text": "A cat.", "max_tokens": 5})
            assert r.status_code == 503 and r.json()["error"] == "remote_llm_unreachable"


def _failed_llm(settings_url: str, gguf_path: Path, **overrides: Any) -> dict[str, Any]:
    """The factory's /health once its remote LLM has failed to load (it keeps running)."""
    settings = remote_settings(gguf_path, settings_url, model_fetch_retry_s=0, **overrides)
    with serve(create_app(settings)) as factory:
        wait_all_loaded(factory)
        health = httpx.get(f"{factory}/health").json()
        r = httpx.post(f"{factory}/summarize", json={"text": "A cat sat on a mat."}, timeout=30)
        assert r.status_code == 503 and r.json()["error"] == "model_unavailable", r.text
        assert httpx.get(f"{factory}/readyz").status_code == 503
    assert health["status"] == "degraded"
    assert health["models"]["llm"]["state"] == "failed"
    return health


def test_bad_input_a_wrong_url_is_a_clear_degraded_health(gguf_path: Path) -> None:
    nothing = f"http://127.0.0.1:{free_port()}/v1"
    health = _failed_llm(nothing, gguf_path)
    error = health["models"]["llm"]["error"]
    assert "cannot reach the remote LLM server" in error and "FACTORY_LLM_REMOTE_URL" in error


def test_bad_input_a_wrong_api_key(gguf_path: Path, tmp_path: Path) -> None:
    with llama_cpp_server(gguf_path, tmp_path / "server.log", api_key="the-right-key") as server:
        health = _failed_llm(server.url, gguf_path, llm_remote_api_key="a-wrong-key")
    error = health["models"]["llm"]["error"]
    assert "refused the credentials (401)" in error and "FACTORY_LLM_REMOTE_API_KEY" in error
    assert "the-right-key" not in json.dumps(health) and "a-wrong-key" not in json.dumps(health)


def test_bad_input_an_unknown_model_name(gguf_path: Path, openai_server: LlamaCppServer) -> None:
    health = _failed_llm(openai_server.url, gguf_path, llm_remote_model="no-such-model")
    error = health["models"]["llm"]["error"]
    assert "no model 'no-such-model'" in error and MODEL_ALIAS in error


def test_bad_input_a_server_that_answers_html(gguf_path: Path) -> None:
    async def page(_: object) -> HTMLResponse:
        return HTMLResponse("<html><body>Welcome to nginx!</body></html>")

    site = Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])
    with serve(site) as url:
        health = _failed_llm(f"{url}/v1", gguf_path)
    error = health["models"]["llm"]["error"]
    assert "not an OpenAI model list" in error and "FACTORY_LLM_REMOTE_URL" in error


def test_bad_settings_are_refused_with_the_setting_named() -> None:
    from pydantic import ValidationError

    from shared.settings import FactorySettings

    with pytest.raises(ValidationError, match="llm_remote_url"):
        FactorySettings(_env_file=None, llm_backend="openai")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not an http"):
        FactorySettings(_env_file=None, llm_backend="openai", llm_remote_url="gpu-box:8080")  # type: ignore[call-arg]


def test_json_with_raw_control_characters_in_strings_is_reread_as_strict_json() -> None:
    """llama-cpp-python's JSON mode lets a raw newline into a string (invalid JSON): the
    answer is re-read leniently and kept as strict JSON; anything else stays invalid."""
    from factory.remote_llm import _invalid, _leniently

    raw = (
        '{"title": "Bridge\\napproved", "main_summary": "The council voted.\tIt passed.",'
        ' "key_points": ["7 to 2"], "category": "politics", "sentiment": "neutral"}'
    ).replace("\\n", "\n")
    assert _invalid(raw) is not None
    fixed = _leniently(raw)
    assert fixed is not None and _invalid(fixed) is None
    assert json.loads(fixed)["title"] == "Bridge\napproved"
    assert _leniently('{"title": "cut sh') is None  # cut short: not JSON at all
    assert _leniently('{"title": "x"}') is None  # JSON, but not a summary
