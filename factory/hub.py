"""Model loading from the hub: errors in the factory's own words (safe to show in /health
and 503s), and the cache asked before the hub."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ModelLoadError(RuntimeError):
    """A model could not load; the message says why without quoting a library's exception."""


class ModelUnreachableError(ModelLoadError):
    """What serves the model cannot be reached now (hub, remote server): worth trying again."""


class ModelFetchError(ModelUnreachableError):
    """A model could not be fetched from the hub; the message says what to do instead."""

    def __init__(self, source: str, cause: BaseException, local_setting: str) -> None:
        super().__init__(
            f"cannot fetch {source} from the model hub ({type(cause).__name__}); "
            f"check the network and HF_TOKEN, or set {local_setting} to a local copy"
        )


def cache_first(load: Callable[[bool], T]) -> T:
    """`load(local_files_only)` from the hub cache alone, asking the hub only when the cache
    cannot serve: offline, the hub client retries each file's check for ~20 s before it falls
    back to the cache. With HF_HUB_OFFLINE=1 the cache is all there is."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return load(True)
    try:
        return load(True)
    except Exception:  # not (wholly) cached: each library says so its own way
        return load(False)
