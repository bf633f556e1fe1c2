"""A real factory process for the eval (`python -m factory`), with the bundled offline models
unless the user names another LLM; stopped however the run ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 600.0  # a model hub download on the first start of a production model
SETTLE_TIMEOUT_S = 120.0  # the optional models (NER, TTS) finish loading in the background
# Settings of the user's own that name the LLM: any of them set, the bundled model is not used.
USER_LLM = (
    "FACTORY_LLM_MODEL_PATH",
    "FACTORY_LLM_REPO_ID",
    "FACTORY_LLM_FILENAME",
    "FACTORY_LLM_PRESET",
)
NEEDED = ("llm", "embeddings")


class FactoryStartError(RuntimeError):
    """The factory exited or never became ready; carries the end of its log."""


def factory_env(port: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The factory's environment: the offline models, unless the user set an LLM."""
    from factory import offline

    environ = dict(os.environ if environ is None else environ)
    env = {
        "FACTORY_HOST": "127.0.0.1",
        "FACTORY_PORT": str(port),
        "FACTORY_NER_ENGINE": environ.get("FACTORY_NER_ENGINE", "spacy"),
        "FACTORY_TTS_ENGINES": environ.get("FACTORY_TTS_ENGINES", '["piper"]'),
        "FACTORY_REQUIRED_MODELS": json.dumps(list(NEEDED)),
    }
    if not any(environ.get(k) for k in USER_LLM):
        env["FACTORY_LLM_MODEL_PATH"] = str(offline.smollm2_gguf())
    if not environ.get("FACTORY_EMBEDDING_MODEL"):
        env["FACTORY_EMBEDDING_MODEL"] = str(offline.minilm_onnx_dir())
    from_hub = not environ.get("FACTORY_LLM_MODEL_PATH") and any(
        environ.get(k) for k in USER_LLM[1:]
    )
    if not from_hub:
        env["HF_HUB_OFFLINE"] = environ.get("HF_HUB_OFFLINE", "1")
    return {**environ, **env}


def llm_source(env: dict[str, str]) -> str:
    """The GGUF a factory started with `env` loads: its file name, or the hub repo's file."""
    if env.get("FACTORY_LLM_MODEL_PATH"):
        return Path(env["FACTORY_LLM_MODEL_PATH"]).name
    repo = env.get("FACTORY_LLM_REPO_ID", "the default hub repo")
    return f"{repo}/{env.get('FACTORY_LLM_FILENAME', 'its default file')}"


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _failed(url: str) -> str | None:
    """Why a model the eval needs failed to load, if one did (readiness then never comes)."""
    try:
        models = httpx.get(f"{url}/health", timeout=2).json()["models"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    for name in NEEDED:
        if models.get(name, {}).get("state") == "failed":
            return f"the {name} model failed to load: {models[name].get('error')}"
    return None


def _settled(url: str) -> bool:
    """No model is still loading (an optional one loading would take CPU from page one)."""
    try:
        models = httpx.get(f"{url}/health", timeout=2).json()["models"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return all(m["state"] != "loading" for m in models.values())


@contextmanager
def running_factory() -> Iterator[tuple[str, str]]:
    """Start the factory on a free loopback port; yield its URL and its GGUF once it is ready,
    stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = factory_env(port)
    with tempfile.TemporaryDirectory(prefix="pulse-eval-") as tmp:
        log = Path(tmp) / "factory.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "factory"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _ready(url):
                if proc.poll() is not None:
                    raise FactoryStartError(
                        f"the factory exited ({proc.returncode}) before it was ready:\n{_tail(log)}"
                    )
                failed = _failed(url)
                if failed:
                    raise FactoryStartError(f"{failed}\n{_tail(log)}")
                if time.monotonic() > deadline:
                    raise FactoryStartError(
                        f"the factory was not ready within {READY_TIMEOUT_S:.0f} s:\n{_tail(log)}"
                    )
                time.sleep(0.25)
            settle = time.monotonic() + SETTLE_TIMEOUT_S
            while not _settled(url) and time.monotonic() < settle:
                time.sleep(0.5)
            yield url, llm_source(env)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
