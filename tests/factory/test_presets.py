"""LLM presets and the first run (issue 11 §1-2): a preset names a hub GGUF (an explicit path
or repo/file wins); a file the hub delivered before is used from the cache without the
network; when the hub cannot deliver, the factory waits for it (production) or serves the
bundled demo model and says so everywhere (`make run`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from huggingface_hub import constants
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from factory.app import create_app
from factory.hub import ModelFetchError
from factory.llm import DEMO_WARNING, find_gguf
from shared.presets import PRESETS
from shared.settings import FactorySettings
from tests.factory.conftest import factory_settings
from tests.servers import serve, wait_until

REVISION = "0123456789abcdef0123456789abcdef01234567"


def settings(**values: object) -> FactorySettings:
    return FactorySettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_default_preset_is_llama_3_8b_and_each_preset_names_its_hub_file() -> None:
    s = settings()
    assert (s.llm_repo_id, s.llm_filename) == (
        "bartowski/Meta-Llama-3-8B-Instruct-GGUF",
        "Meta-Llama-3-8B-Instruct-Q4_K_M.gguf",
    )
    for name, preset in PRESETS.items():
        chosen = settings(llm_preset=name)
        assert chosen.llm_preset_info == preset
        assert chosen.llm_filename == preset.filename
        assert chosen.llm_repo_id == (preset.repo_id or "")
        assert preset.ram_gb > preset.download_gb > 0


def test_an_explicit_path_or_file_wins_over_the_preset(tmp_path: Path) -> None:
    assert (
        settings(llm_preset="llama-3.2-3b", llm_model_path=tmp_path / "x.gguf").llm_preset_info
        is None
    )
    own = settings(llm_preset="llama-3.2-3b", llm_filename="Llama-3.2-3B-Instruct-Q8_0.gguf")
    assert own.llm_repo_id == "bartowski/Llama-3.2-3B-Instruct-GGUF"  # the preset's repo
    assert own.llm_filename == "Llama-3.2-3B-Instruct-Q8_0.gguf" and own.llm_preset_info is None
    other = settings(llm_repo_id="someone/model-GGUF", llm_filename="m.gguf")
    assert (other.llm_repo_id, other.llm_filename) == ("someone/model-GGUF", "m.gguf")


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"llm_preset": "llama-4"}, "llm_preset"),  # bad input: an unknown preset
        ({"llm_repo_id": "someone/model-GGUF"}, "needs llm_filename"),  # a repo without a file
        ({"llm_preset": "llama-3-8b", "llm_n_ctx": 16384}, "exceeds llama-3-8b's context"),
    ],
)
def test_bad_llm_settings_are_refused(values: dict[str, object], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        settings(**values)


def _hub_cache(root: Path, repo: str, filename: str, gguf: Path) -> Path:
    """A hub cache holding `filename` of `repo`, as a download leaves it."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "snapshots" / REVISION).mkdir(parents=True)
    shutil.copy(gguf, folder / "snapshots" / REVISION / filename)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(REVISION)
    return folder / "snapshots" / REVISION / filename


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache (the tests run with HF_HUB_OFFLINE=1: the hub is unreachable)."""
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    return root


def _health(base: str) -> dict:
    wait_until(lambda: httpx.get(f"{base}/health").json()["models"]["llm"]["state"] != "loading")
    return httpx.get(f"{base}/health").json()


def test_a_preset_the_hub_delivered_before_serves_from_the_cache(
    gguf_path: Path, gliner_dir: Path, hub_cache: Path
) -> None:
    preset = PRESETS["llama-3.2-1b"]
    assert preset.repo_id
    cached = _hub_cache(hub_cache, preset.repo_id, preset.filename, gguf_path)
    found = find_gguf(settings(llm_preset="llama-3.2-1b"))
    assert found.path.resolve() == cached.resolve() and found.demo is False
    s = factory_settings(
        gguf_path, gliner_dir, llm_model_path=None, llm_preset="llama-3.2-1b", ner_engine="spacy"
    )
    with serve(create_app(s)) as base:
        health = _health(base)
        assert health["models"]["llm"]["state"] == "ready", health["models"]["llm"]
        assert health["demo_model"] is False and health["warnings"] == []
        assert health["llm_source"].startswith("preset llama-3.2-1b (bartowski/")


def test_a_cached_file_is_used_without_asking_the_hub(
    gguf_path: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online mode (no HF_HUB_OFFLINE), the hub a loopback server that records what it is
    asked: a copy in the cache serves and the hub hears nothing. Asking it first costs a
    round trip, and on a machine without a network ~20 s of retries on every start."""
    asked: list[str] = []

    async def record(request: Request) -> Response:
        asked.append(f"{request.method} {request.url.path}")
        return PlainTextResponse("not here", 404)

    hub = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "HEAD"])])
    preset = PRESETS["llama-3.2-1b"]
    assert preset.repo_id
    cached = _hub_cache(hub_cache, preset.repo_id, preset.filename, gguf_path)
    with serve(hub) as endpoint:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"  # as HF_ENDPOINT makes
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        found = find_gguf(settings(llm_preset="llama-3.2-1b"))
        assert found.path.resolve() == cached.resolve() and found.demo is False
        # (The hub client's own best-effort look-ups, /api/agent-harnesses, are not ours.)
        assert [a for a in asked if preset.repo_id in a] == [], asked
        # Not cached: the hub is asked (and, answering 404, cannot deliver).
        with pytest.raises(ModelFetchError, match=r"cannot fetch bartowski/Llama-3\.2-3B"):
            find_gguf(settings(llm_preset="llama-3.2-3b"))
        assert any("Llama-3.2-3B-Instruct-GGUF" in a for a in asked), asked


def test_without_the_hub_production_waits_and_says_why(hub_cache: Path) -> None:
    with pytest.raises(ModelFetchError, match=r"cannot fetch bartowski/Llama-3\.2-1B"):
        find_gguf(settings(llm_preset="llama-3.2-1b"))


def test_without_the_hub_make_run_serves_the_demo_model_and_says_so(
    gguf_path: Path, gliner_dir: Path, hub_cache: Path
) -> None:
    s = factory_settings(
        gguf_path,
        gliner_dir,
        llm_model_path=None,
        llm_preset="llama-3.2-1b",
        llm_fallback_bundled=True,
        ner_engine="spacy",
    )
    with serve(create_app(s)) as base:
        health = _health(base)
        assert health["models"]["llm"]["state"] == "ready"
        assert health["demo_model"] is True and health["llm_source"] == "the bundled fallback"
        assert DEMO_WARNING in health["warnings"]
        assert any("cannot fetch bartowski/Llama-3.2-1B" in w for w in health["warnings"])
        body = {"text": "The council approved the new bridge on Monday. " * 5, "max_tokens": 8}
        done = httpx.post(f"{base}/summarize", json=body, timeout=120).json()
        assert done["demo_model"] is True


def test_the_bundled_model_by_path_is_a_demo_too() -> None:
    from factory import offline

    found = find_gguf(settings(llm_model_path=offline.smollm2_gguf()))
    assert found.demo is True
    assert find_gguf(settings(llm_preset="bundled")).demo is True
