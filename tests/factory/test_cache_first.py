"""Models a hub download left in the cache load without asking the hub, online too: asking
first costs a round trip per file, and on a machine without a network ~20 s of retries per
file on every start (the GGUF's case is in test_presets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory import offline
from factory.embeddings import load_embedder
from factory.hub import ModelFetchError
from factory.ner import GlinerExtractor
from shared.settings import FactorySettings
from tests.factory.hub import about, put_in_hub_cache


def settings(**values: object) -> FactorySettings:
    return FactorySettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_a_cached_gliner_loads_without_asking_the_hub(
    gliner_dir: Path, hub_cache: Path, online_hub: list[str]
) -> None:
    put_in_hub_cache(hub_cache, "pulse-test/gliner", {".": gliner_dir})
    extractor = GlinerExtractor.load(settings(gliner_model="pulse-test/gliner"))
    found = extractor.extract("Mara Lindqvist works in Dresden.", ["Person", "Location"], 0.0)
    assert found.chunks == 1  # it ran (untrained: what it finds is noise)
    assert about(online_hub, "pulse-test/gliner") == [], online_hub
    with pytest.raises(ModelFetchError, match="cannot fetch pulse-test/missing"):
        GlinerExtractor.load(settings(gliner_model="pulse-test/missing"))
    assert about(online_hub, "pulse-test/missing"), online_hub  # not cached: asked


def test_a_cached_onnx_embedder_loads_without_asking_the_hub(
    hub_cache: Path, online_hub: list[str]
) -> None:
    model = offline.minilm_onnx_dir()
    files = {"onnx/model.onnx": model / "onnx" / "model.onnx"}
    files["tokenizer.json"] = model / "tokenizer.json"
    put_in_hub_cache(hub_cache, "pulse-test/minilm", files)
    embedder = load_embedder(
        settings(embedding_model="pulse-test/minilm", embedding_runtime="onnx")
    )
    assert embedder.embed(["a sentence", "another"]).shape[0] == 2
    assert about(online_hub, "pulse-test/minilm") == [], online_hub
