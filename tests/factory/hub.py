"""A model hub on loopback for the factory's tests: a hub cache laid out as downloads leave
it, and an online hub that records what it is asked (and has nothing)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.servers import serve

REVISION = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(cache: Path, repo: str, files: dict[str, Path]) -> Path:
    """`files` (name in the repo -> a local file or folder) as `repo`'s snapshot in `cache`,
    as a download leaves it; the snapshot's folder."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / REVISION
    for name, source in files.items():
        target = snapshot / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(REVISION)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache (the tests run with HF_HUB_OFFLINE=1: the hub is unreachable)."""
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    return root


@pytest.fixture
def online_hub(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Online mode (no HF_HUB_OFFLINE) with the hub a loopback server that answers 404 to
    everything; yields the requests it was asked ("METHOD /path")."""
    asked: list[str] = []

    async def record(request: Request) -> Response:
        asked.append(f"{request.method} {request.url.path}")
        return PlainTextResponse("not here", 404)

    hub = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "HEAD"])])
    with serve(hub) as endpoint:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"  # as HF_ENDPOINT makes
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        yield asked


def about(asked: list[str], repo: str) -> list[str]:
    """The requests concerning `repo` (the hub client's own look-ups, such as
    /api/agent-harnesses, are not the factory's)."""
    return [a for a in asked if repo in a]
