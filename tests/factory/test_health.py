"""Models load in the background; health answers at once; failures degrade, never crash."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from factory.app import create_app
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.servers import serve, wait_until


def test_health_answers_while_models_load_and_endpoints_say_retry(
    gguf_path: Path, gliner_dir: Path
) -> None:
    with serve(create_app(factory_settings(gguf_path, gliner_dir))) as base:
        health = httpx.get(f"{base}/health").json()  # GLiNER takes seconds to load
        assert health["status"] == "loading"
        assert health["gliner_loaded"] is False
        assert "ner" not in health["models_loaded"]
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert int(ready.headers["Retry-After"]) > 0
        assert "ner" in ready.json()["waiting_for"]
        head = httpx.head(f"{base}/readyz")  # uptime monitors send HEAD: 405 before
        assert head.status_code == 503 and head.content == b""
        assert head.headers["Retry-After"] == ready.headers["Retry-After"]
        busy = httpx.post(f"{base}/extract", json={"text": "Jane went to Paris."})
        assert busy.status_code == 503
        assert busy.json()["error"] == "model_loading"
        assert int(busy.headers["Retry-After"]) > 0

        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout=120)
        wait_until(lambda: httpx.get(f"{base}/health").json()["status"] != "loading")
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "healthy"
        assert health["llama_loaded"] and health["gliner_loaded"]
        assert set(health["models_loaded"]) == {"llm", "ner", "tts", "embeddings"}
        assert health["models"]["llm"]["name"]
        assert health["tts_engine"] == "edge"
        assert health["tts_engines"] == ["edge", "piper"]
        assert health["tts_unavailable"] == {}
        assert health["uptime_seconds"] > 0


def test_a_model_that_fails_to_load_shows_degraded(gguf_path: Path, gliner_dir: Path) -> None:
    settings = factory_settings(
        gguf_path,
        gliner_dir,
        llm_model_path=gguf_path.parent / "missing.gguf",
        ner_engine="spacy",
    )
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "degraded"
        assert health["llama_loaded"] is False
        assert "missing.gguf" in health["models"]["llm"]["error"]
        assert httpx.get(f"{base}/readyz").status_code == 503
        r = httpx.post(f"{base}/summarize", json={"text": "Anything."})
        assert r.status_code == 503
        assert r.json()["error"] == "model_unavailable"
        # The other models still serve.
        assert httpx.post(f"{base}/extract", json={"text": "Jane met Bob."}).status_code == 200


def test_a_model_file_that_does_not_load_is_reported_without_the_librarys_text(
    gguf_path: Path, gliner_dir: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00" * 64)
    settings = factory_settings(
        gguf_path, gliner_dir, llm_model_path=corrupt, ner_engine="spacy", tts_engines=["edge"]
    )
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        error = httpx.get(f"{base}/health").json()["models"]["llm"]["error"]
        assert error.endswith("(the factory's log has the details)")
        r = httpx.post(f"{base}/summarize", json={"text": "Anything."})
        assert r.status_code == 503 and r.json()["error"] == "model_unavailable"
        for shown in (error, r.json()["detail"], httpx.get(f"{base}/readyz").text):
            assert str(corrupt) not in shown  # llama.cpp's "Failed to load model from file: ..."


def test_hub_model_that_cannot_be_fetched_is_reported_not_fatal(
    gguf_path: Path, gliner_dir: Path
) -> None:
    settings = factory_settings(gguf_path, gliner_dir, llm_model_path=None, ner_engine="spacy")
    assert settings.llm_repo_id  # production default: Llama-3-8B-Instruct Q4_K_M from the hub
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "degraded"
        assert health["models"]["llm"]["state"] == "failed"
        error = health["models"]["llm"]["error"]
        assert "cannot fetch" in error and "FACTORY_LLM_MODEL_PATH" in error


@pytest.mark.parametrize("path", ["/health", "/healthz", "/readyz"])
def test_head_on_health_routes_answers_like_get_without_a_body(
    client: httpx.Client, path: str
) -> None:
    got = client.get(path)
    head = client.head(path)  # uptime monitors send HEAD: 405 before
    assert head.status_code == got.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 0
