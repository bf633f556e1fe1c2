"""A real factory process-in-a-thread on SmolLM2, an offline GLiNER and Piper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factory import offline
from factory.app import create_app
from shared.settings import FactorySettings
from tests.factory.hub import hub_cache, online_hub  # noqa: F401 (fixtures)
from tests.llama_server import BUILD_HINT, cached_binary, find_binary, running
from tests.openai_servers import LlamaCppServer, llama_cpp_server
from tests.servers import free_port, serve, wait_until

# Edge-TTS goes through this proxy, where nothing listens: it fails at once, with or without
# internet, so the tests always see the local fallback they mean to test.
DEAD_PROXY = f"http://127.0.0.1:{free_port()}"


def factory_settings(gguf_path: Path, gliner_dir: Path, **overrides: Any) -> FactorySettings:
    values: dict[str, Any] = {
        "llm_model_path": gguf_path,
        "gliner_model": str(gliner_dir),
        "embedding_model": str(offline.minilm_dir()),
        "llm_n_ctx": 2048,
        "llm_max_output_tokens": 768,
        "llm_max_waiting": 1,
        "tts_engines": ["edge", "piper"],
        "edge_tts_timeout_s": 10,
        "edge_tts_proxy": DEAD_PROXY,
        "retry_after_s": 3,
        **overrides,
    }
    return FactorySettings(_env_file=None, **values)  # type: ignore[call-arg]


def wait_all_loaded(base: str) -> None:
    """Wait until no model is loading (/readyz waits only for the required ones)."""

    def settled() -> bool:
        models = httpx.get(f"{base}/health").json()["models"]
        return all(m["state"] != "loading" for m in models.values())

    wait_until(settled, timeout=180)


@pytest.fixture(scope="session")
def factory_url(gguf_path: Path, gliner_dir: Path) -> Iterator[str]:
    with serve(create_app(factory_settings(gguf_path, gliner_dir))) as base:
        wait_all_loaded(base)
        yield base


@pytest.fixture(scope="session")
def embedder_factory_url(gguf_path: Path) -> Iterator[str]:
    """A factory with spaCy NER and Piper (no GLiNER to build), for the tests of the
    embedder's routes (/highlights, /provenance)."""
    settings = factory_settings(
        gguf_path, Path("unused"), ner_engine="spacy", tts_engines=["piper"]
    )
    with serve(create_app(settings)) as url:
        wait_all_loaded(url)
        yield url


@pytest.fixture
def client(factory_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=factory_url, timeout=120) as c:
        yield c


def remote_settings(gguf_path: Path, remote_url: str, **overrides: Any) -> FactorySettings:
    """A factory whose LLM is a remote OpenAI-compatible server (spaCy NER and Piper: light)."""
    values: dict[str, Any] = {
        "ner_engine": "spacy",
        "tts_engines": ["piper"],
        "llm_backend": "openai",
        "llm_remote_url": remote_url,
        "llm_remote_context_tokens": 2048,  # as the test server was started
        "llm_remote_retry_total_s": 8,
        "llm_remote_retry_max_wait_s": 2,
        **overrides,
    }
    return factory_settings(gguf_path, Path("unused"), **values)


@pytest.fixture(scope="session")
def openai_server(
    gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaCppServer]:
    """llama-cpp-python's own OpenAI-compatible server on SmolLM2, for the whole session."""
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    with llama_cpp_server(gguf_path, log) as server:
        yield server


@pytest.fixture(scope="session")
def remote_factory_url(gguf_path: Path, openai_server: LlamaCppServer) -> Iterator[str]:
    """A factory in remote mode (FACTORY_LLM_BACKEND=openai) in front of `openai_server`."""
    with serve(create_app(remote_settings(gguf_path, openai_server.url))) as base:
        wait_all_loaded(base)
        yield base


@pytest.fixture(scope="session")
def llama_server_factory_url(gguf_path: Path) -> Iterator[str]:
    """A factory in remote mode in front of llama.cpp's C++ llama-server (the second real
    remote backend: it takes response_format json_schema); skips where it is not built."""
    binary = find_binary()
    if binary is None:
        pytest.skip(f"llama-server not built (looked for {cached_binary()}): {BUILD_HINT}")
    with (
        running(gguf_path, threads=2, n_ctx=2048, binary=binary) as server,
        serve(create_app(remote_settings(gguf_path, server.url))) as base,
    ):
        wait_all_loaded(base)
        yield base
