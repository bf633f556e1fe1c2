"""A model the hub cannot deliver at start-up (no network yet) is fetched again with backoff,
and the factory becomes ready once it can be had, without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from factory import offline
from tests.factory.hub import put_in_hub_cache
from tests.servers import free_port, wait_until

REPO = "pulse-test/gliner"


def test_a_model_fetched_later_makes_the_factory_ready(
    gguf_path: Path, gliner_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),  # empty: the hub has not delivered the model
        "HF_HUB_OFFLINE": "1",
        "FACTORY_PORT": str(port),
        "FACTORY_LLM_MODEL_PATH": str(gguf_path),
        "FACTORY_LLM_N_CTX": "2048",
        "FACTORY_LLM_MAX_OUTPUT_TOKENS": "768",
        "FACTORY_GLINER_MODEL": REPO,
        "FACTORY_TTS_ENGINES": '["piper"]',
        "FACTORY_EMBEDDING_MODEL": str(offline.minilm_dir()),
        "FACTORY_MODEL_FETCH_RETRY_S": "1",
    }
    log = (tmp_path / "factory.log").open("wb")
    factory = subprocess.Popen([sys.executable, "-m", "factory"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def ner() -> dict:
        try:
            return httpx.get(f"{base}/health", timeout=5).json()["models"]["ner"]
        except httpx.HTTPError:
            return {}

    try:
        wait_until(lambda: ner().get("retry_in_s") is not None, timeout=120)
        status = ner()
        assert status["state"] == "failed"
        assert f"cannot fetch {REPO} from the model hub" in status["error"]
        assert httpx.get(f"{base}/readyz").status_code == 503
        assert factory.poll() is None, "a model it cannot fetch must not stop the server"

        put_in_hub_cache(tmp_path / "hf" / "hub", REPO, {".": gliner_dir})  # HF_HOME's cache
        wait_until(lambda: ner().get("state") == "ready", timeout=120)
        assert ner()["retry_in_s"] is None and ner()["error"] is None
        assert httpx.get(f"{base}/readyz").status_code == 200
        r = httpx.post(f"{base}/extract", json={"text": "Jane met Bob in Paris."}, timeout=60)
        assert r.status_code == 200
    finally:
        factory.terminate()
        factory.wait(timeout=60)
        log.close()
    assert "fetching ner again in" in (tmp_path / "factory.log").read_text()
