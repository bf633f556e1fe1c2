"""Model files fetched from the hub: one clear error when that fails."""

from __future__ import annotations


class ModelFetchError(RuntimeError):
    """A model could not be fetched from the hub; the message says what to do instead."""

    def __init__(self, source: str, cause: BaseException, local_setting: str) -> None:
        super().__init__(
            f"cannot fetch {source} from the model hub ({type(cause).__name__}: {cause}); "
            f"check the network and HF_TOKEN, or set {local_setting} to a local copy"
        )
