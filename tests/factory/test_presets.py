"""LLM presets and the first run (issue 11 §1-2): a preset names a hub GGUF (an explicit path
or repo/file wins); a file the hub delivered before is used from the cache without the
network; when the hub cannot deliver, the factory waits for it (production) or serves the
bundled demo model and says so everywhere (`make run`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from factory.app import create_app
from factory.hub import ModelFetchError
from factory.llm import DEMO_WARNING, find_gguf
from shared.presets import PRESETS
from shared.settings import FactorySettings
from tests.factory.conftest import factory_settings
from tests.factory.hub import about, put_in_hub_cache
from tests.servers import serve, wait_until


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


def _health(base: str) -> dict:
    wait_until(lambda: httpx.get(f"{base}/health").json()["models"]["llm"]["state"] != "loading")
    return httpx.get(f"{base}/health").json()


def _cached_1b_is_found(hub_cache: Path, gguf_path: Path) -> str:
    """Put the llama-3.2-1b preset's GGUF in the hub cache and find it there; its repo."""
    preset = PRESETS["llama-3.2-1b"]
    assert preset.repo_id
    cached = put_in_hub_cache(hub_cache, preset.repo_id, {preset.filename: gguf_path})
    found = find_gguf(settings(llm_preset="llama-3.2-1b"))
    assert found.path.resolve() == (cached / preset.filename).resolve()
    assert found.demo is False
    return preset.repo_id


def test_a_preset_the_hub_delivered_before_serves_from_the_cache(
    gguf_path: Path, gliner_dir: Path, hub_cache: Path
) -> None:
    _cached_1b_is_found(hub_cache, gguf_path)
    s = factory_settings(
        gguf_path, gliner_dir, llm_model_path=None, llm_preset="llama-3.2-1b", ner_engine="spacy"
    )
    with serve(create_app(s)) as base:
        health = _health(base)
        assert health["models"]["llm"]["state"] == "ready", health["models"]["llm"]
        assert health["demo_model"] is False and health["warnings"] == []
        assert health["llm_source"].startswith("preset llama-3.2-1b (bartowski/")


def test_a_cached_file_is_used_without_asking_the_hub(
    gguf_path: Path, hub_cache: Path, online_hub: list[str]
) -> None:
    """Online, with the GGUF in the cache: it serves and the hub hears nothing of it. Asking
    first costs a round trip, and on a machine without a network ~20 s of retries on every
    start. A file not in the cache is asked for."""
    repo = _cached_1b_is_found(hub_cache, gguf_path)
    assert about(online_hub, repo) == [], online_hub
    with pytest.raises(ModelFetchError, match=r"cannot fetch bartowski/Llama-3\.2-3B"):
        find_gguf(settings(llm_preset="llama-3.2-3b"))
    assert about(online_hub, "Llama-3.2-3B-Instruct-GGUF"), online_hub


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
