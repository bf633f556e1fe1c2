"""Model loading errors in the factory's own words, safe to show in /health and 503s."""

from __future__ import annotations


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
