"""What the summary routes need from an LLM, and which backend the settings choose."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from factory.llm import Generation, LlmSource, Prompt, Summarizer
from shared.schemas import LlmBackendStatus, Style
from shared.settings import FactorySettings


class LlmBackend(Protocol):
    """The local GGUF (`factory.llm.Summarizer`) or a remote OpenAI-compatible server
    (`factory.remote_llm.RemoteSummarizer`)."""

    name: str
    demo: bool
    source: LlmSource | None

    def count_tokens(self, text: str) -> int: ...

    def prepare(
        self,
        style: Style,
        structured: bool,
        article: str,
        max_tokens: int,
        limit_tokens: int | None = None,
    ) -> Prompt: ...

    def generate(
        self,
        prompt: Prompt,
        max_tokens: int,
        temperature: float,
        structured: bool,
        stop: threading.Event,
        run: Generation,
    ) -> Iterator[str]: ...

    def status(self) -> LlmBackendStatus: ...

    def close(self) -> None: ...


def load_llm(settings: FactorySettings) -> LlmBackend:
    if settings.llm_backend == "openai":
        from factory.remote_llm import RemoteSummarizer

        return RemoteSummarizer.load(settings)
    return Summarizer.load(settings)
