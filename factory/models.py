"""Model slots: each model loads once, in the background, and reports its state."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from factory.backend import LlmBackend, load_llm
from factory.embeddings import CachedEmbedder, Embedder, load_embedder
from factory.gate import ModelGate
from factory.hub import ModelLoadError, ModelUnreachableError
from factory.llm import Generation
from factory.ner import Extractor, load_extractor
from factory.tts import Narrator, TtsError
from shared import defaults as d
from shared.http_errors import ApiError
from shared.schemas import ModelState, ModelStatus
from shared.settings import FactorySettings, ModelName

T = TypeVar("T")
log = logging.getLogger(__name__)


def _reason(exc: Exception) -> str:
    """Why a model failed to load, fit to show: our own words, or only the exception's type."""
    if isinstance(exc, ModelLoadError | TtsError):
        return str(exc)
    return f"{type(exc).__name__} (the factory's log has the details)"


class ModelSlot(Generic[T]):
    """A model that is loading, ready or failed. `get()` answers 503 until it is ready."""

    def __init__(self, key: ModelName, loader: Callable[[], T], retry_after_s: int) -> None:
        self.key = key
        self._loader = loader
        self._retry_after_s = retry_after_s
        self.state: ModelState = "loading"
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.value: T | None = None
        self.fetch_failed = False  # the hub or remote server was unreachable: try again
        self.retry_at: float | None = None

    def load(self) -> None:
        log.info("loading the %s model", self.key)
        self.state, self.error, self.retry_at = "loading", None, None
        started = time.perf_counter()
        try:
            self.value = self._loader()
            self.state = "ready"
            self.fetch_failed = False
        except Exception as exc:  # any loader failure is reported, never raised
            self.error = _reason(exc)
            self.state = "failed"
            self.fetch_failed = isinstance(exc, ModelUnreachableError)
            if isinstance(exc, ModelLoadError):  # our own words: one line, no traceback
                log.error("the %s model failed to load: %s", self.key, exc)
            else:
                log.error("the %s model failed to load (see /health)", self.key, exc_info=exc)
        self.load_seconds = round(time.perf_counter() - started, 3)
        if self.state == "ready":
            log.info("the %s model is ready (%.1f s)", self.key, self.load_seconds)

    def get(self) -> T:
        if self.state == "ready" and self.value is not None:
            return self.value
        if self.state == "loading":
            raise ApiError(
                503,
                "model_loading",
                f"the {self.key} model is still loading",
                retry_after=self._retry_after_s,
            )
        raise ApiError(
            503,
            "model_unavailable",
            f"the {self.key} model failed to load: {self.error}",
            retry_after=self._retry_after_s * 12,
        )

    def status(self) -> ModelStatus:
        name = getattr(self.value, "name", self.key) if self.value is not None else self.key
        retry_in = None if self.retry_at is None else max(0.0, self.retry_at - time.monotonic())
        return ModelStatus(
            name=str(name),
            state=self.state,
            error=self.error,
            load_seconds=self.load_seconds,
            retry_in_s=None if retry_in is None else round(retry_in, 1),
        )


class Models:
    """Every model the factory holds, with one gate per model object."""

    def __init__(self, settings: FactorySettings) -> None:
        retry = settings.retry_after_s
        self.settings = settings
        self.llm: ModelSlot[LlmBackend] = ModelSlot("llm", lambda: load_llm(settings), retry)
        self.ner: ModelSlot[Extractor] = ModelSlot("ner", lambda: load_extractor(settings), retry)
        self.tts: ModelSlot[Narrator] = ModelSlot("tts", lambda: Narrator.load(settings), retry)
        self.embeddings: ModelSlot[Embedder] = ModelSlot(
            "embeddings",
            lambda: CachedEmbedder(load_embedder(settings), d.EMBEDDING_CACHE_SENTENCES),
            retry,
        )
        remote = settings.llm_backend == "openai"
        llm_concurrency = settings.llm_remote_concurrency if remote else 1
        self.gates = {
            "llm": ModelGate("llm", settings.llm_max_waiting, retry, llm_concurrency),
            "ner": ModelGate("ner", settings.ner_max_waiting, retry),
            "tts": ModelGate("tts", settings.tts_max_waiting, retry),
            "embeddings": ModelGate("embeddings", settings.embedding_max_waiting, retry),
        }
        self.started = time.monotonic()
        self.generations_cancelled = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def slots(self) -> dict[str, ModelSlot[object]]:
        # The embedder first: it loads in seconds and serves the cheap highlights.
        return {"embeddings": self.embeddings, "llm": self.llm, "ner": self.ner, "tts": self.tts}  # type: ignore[dict-item]

    def start_loading(self) -> None:
        """Load every model in one background thread (one at a time: 2 cores). A model the
        hub could not deliver is fetched again, with a doubling wait, until it loads."""

        def run() -> None:
            for slot in self.slots().values():
                slot.load()
            wait = self.settings.model_fetch_retry_s
            while wait > 0:
                pending = [s for s in self.slots().values() if s.fetch_failed]
                if not pending:
                    return
                for slot in pending:
                    slot.retry_at = time.monotonic() + wait
                log.info("fetching %s again in %.0f s", ", ".join(s.key for s in pending), wait)
                if self._stop.wait(wait):
                    return
                for slot in pending:
                    slot.load()
                wait = min(wait * 2, d.MODEL_FETCH_RETRY_MAX_S)

        self._thread = threading.Thread(target=run, name="model-loader", daemon=True)
        self._thread.start()

    def record(self, run: Generation) -> None:
        if run.finish_reason == "cancelled":
            self.generations_cancelled += 1

    def wait_loaded(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Free llama.cpp's memory once no generation runs (never under a running one)."""
        self._stop.set()
        self.wait_loaded()
        summarizer = self.llm.value
        if summarizer is not None and self.gates["llm"].close(timeout=30):
            summarizer.close()

    def missing_for_ready(self) -> dict[str, str]:
        """Models /readyz waits for that are not ready, with their state or error (a remote
        LLM server that stopped answering counts as not ready)."""
        missing: dict[str, str] = {
            key: slot.error or slot.state
            for key, slot in self.slots().items()
            if key in self.settings.required_models and slot.state != "ready"
        }
        llm = self.llm.value
        if "llm" in self.settings.required_models and llm is not None and "llm" not in missing:
            backend = llm.status()
            if backend.reachable is False:
                missing["llm"] = f"the remote LLM server does not answer: {backend.error}"
        return missing
