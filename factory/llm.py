"""The summarising LLM: llama.cpp via llama-cpp-python, prompt layout, truncation, streaming."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from factory import prompts
from factory.hub import ModelFetchError, ModelLoadError, cache_first
from factory.sampling import (
    CompiledGrammar,
    FinishReason,
    GenerationStats,
    SamplingParams,
    TokenGenerator,
    json_schema_grammar,
)
from shared.schemas import LlmBackendStatus, Style
from shared.settings import FactorySettings

log = logging.getLogger(__name__)
_ARTICLE_SLOT = "\x00ARTICLE\x00"


@dataclass
class Prompt:
    """A request's prompt: as tokens (`shared prefix + article + suffix`) for the local model,
    as chat messages with an estimated size for a remote one."""

    tokens: list[int]
    article_tokens: int  # of the article that reached the model
    truncated: bool
    given_tokens: int = 0  # of the text it was given
    messages: list[dict[str, str]] = field(default_factory=list)
    estimated_tokens: int = 0

    @property
    def size(self) -> int:
        return len(self.tokens) if self.tokens else self.estimated_tokens


@dataclass
class Generation:
    """Filled in while a generation runs; read after its token iterator ends."""

    text: list[str] = field(default_factory=list)
    output_tokens: int = 0
    prompt_tokens: int | None = None  # as a remote server counted them
    repaired: bool = False  # the JSON came from the one repair request (remote backends)
    finish_reason: FinishReason = "stop"
    started: float = 0.0
    first_token: float | None = None
    finished: float = 0.0

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.started) * 1000

    @property
    def generation_ms(self) -> float:
        return (self.finished - self.started) * 1000

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token is None or self.output_tokens < 2:
            return None
        span = self.finished - self.first_token
        return (self.output_tokens - 1) / span if span > 0 else None


DEMO_WARNING = (
    "the LLM is the bundled demo model (SmolLM2-135M): its summaries are rough and often "
    "invented; set FACTORY_LLM_PRESET (e.g. llama-3.2-3b) or FACTORY_LLM_MODEL_PATH for real ones"
)


@dataclass(frozen=True)
class LlmSource:
    """Which GGUF serves, and why: a path, a preset, a repo/file, or the fallback."""

    path: Path
    described: str  # e.g. "preset llama-3.2-1b (bartowski/...gguf)"
    demo: bool
    fallback_reason: str | None = None


def fetch_gguf(repo_id: str, filename: str) -> Path:
    """The hub file: a copy in the hub cache at once, without asking the hub (see
    cache_first), else downloaded once with a progress bar (llama-cpp-python's
    from_pretrained would list the repo online every time)."""
    from huggingface_hub import hf_hub_download

    return cache_first(
        lambda cached: Path(
            hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=cached)
        )
    )


def find_gguf(settings: FactorySettings) -> LlmSource:
    """The GGUF settings name: a local file, else the hub repo's file, else the bundled one."""
    from factory import offline

    preset = settings.llm_preset_info
    if settings.llm_model_path is not None:
        path = Path(settings.llm_model_path)
        if not path.is_file():
            raise ModelLoadError(f"LLM model file not found: {path}")
        demo = path.resolve() == offline.smollm2_gguf().resolve()
        return LlmSource(path, f"file {path}", demo)
    if not settings.llm_repo_id:  # the bundled preset
        return LlmSource(offline.smollm2_gguf(), "preset bundled", True)
    source = f"{settings.llm_repo_id}/{settings.llm_filename}"
    named = f"preset {preset.name} ({source})" if preset else source
    size = f", {preset.download_gb:g} GB" if preset else ""
    log.info("LLM: %s; from the model hub (downloaded once, then cached%s)", named, size)
    try:
        return LlmSource(fetch_gguf(settings.llm_repo_id, settings.llm_filename), named, False)
    except Exception as exc:
        failure = ModelFetchError(source, exc, "FACTORY_LLM_MODEL_PATH")
        if not settings.llm_fallback_bundled:
            raise failure from exc
        return LlmSource(offline.smollm2_gguf(), "the bundled fallback", True, str(failure))


def load_llama(settings: FactorySettings, path: Path) -> Llama:
    return Llama(
        model_path=str(path),
        n_ctx=settings.llm_n_ctx,
        n_batch=settings.llm_n_batch,
        n_threads=settings.llm_n_threads,
        verbose=False,
    )


class Summarizer:
    """The local backend: one Llama object; callers serialise access through its ModelGate."""

    def __init__(self, llama: Llama, name: str, source: LlmSource | None = None) -> None:
        self.llama = llama
        self.name = name
        self.source = source
        self.demo = source.demo if source else False
        self.n_ctx = llama.n_ctx()
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelLoadError(f"{name} carries no chat template in its GGUF metadata")
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(llama.token_eos()),
            bos_token=self._token_text(llama.token_bos()),
        )
        self._generator = TokenGenerator(llama)
        self._grammar = CompiledGrammar(llama, json_schema_grammar(prompts.summary_schema_json()))
        self._frames: dict[tuple[Style, bool], tuple[list[int], list[int]]] = {}

    @classmethod
    def load(cls, settings: FactorySettings) -> Summarizer:
        source = find_gguf(settings)
        llama = load_llama(settings, source.path)
        name = llama.metadata.get("general.name") or source.path.name
        if source.fallback_reason:
            log.warning("the model hub cannot deliver the LLM: %s", source.fallback_reason)
        if source.demo:
            log.warning("%s %s %s", "!" * 8, DEMO_WARNING, "!" * 8)
        log.info("LLM ready: %s from %s", name, source.described)
        return cls(llama, name, source)

    def status(self) -> LlmBackendStatus:
        return LlmBackendStatus(kind="local", model=self.name)

    def close(self) -> None:
        self.llama.close()

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _frame(self, style: Style, structured: bool) -> tuple[list[int], list[int]]:
        """Tokens before and after the article, rendered by the GGUF's own chat template."""
        key = (style, structured)
        if key not in self._frames:
            rendered = self._formatter(
                messages=prompts.messages(style, structured, _ARTICLE_SLOT)  # type: ignore[arg-type]
            ).prompt
            before, after = rendered.split(_ARTICLE_SLOT)
            self._frames[key] = (
                self.llama.tokenize(before.encode(), add_bos=False, special=True),
                self.llama.tokenize(after.encode(), add_bos=False, special=True),
            )
        return self._frames[key]

    def count_tokens(self, text: str) -> int:
        """The article tokens of `text`, as `prepare` counts them."""
        return len(self._article_tokens(text))

    def _article_tokens(self, text: str) -> list[int]:
        # special=False: text inside an article can never become a control token.
        return self.llama.tokenize(text.strip().encode(), add_bos=False, special=False)

    def prepare(
        self,
        style: Style,
        structured: bool,
        article: str,
        max_tokens: int,
        limit_tokens: int | None = None,
    ) -> Prompt:
        """Lay out the prompt, cutting the article by tokens so `max_tokens` still fit (and,
        with `limit_tokens`, to at most that many: plain head truncation)."""
        before, after = self._frame(style, structured)
        body = self._article_tokens(article)
        given = len(body)
        room = self.n_ctx - len(before) - len(after) - max_tokens
        if room < 1:
            raise ValueError(f"max_tokens={max_tokens} leaves no room for the article")
        truncated = given > room  # cut to fit the context window
        keep = room if limit_tokens is None else min(room, limit_tokens)
        body = body[:keep]
        return Prompt(before + body + after, len(body), truncated, given)

    def generate(
        self,
        prompt: Prompt,
        max_tokens: int,
        temperature: float,
        structured: bool,
        stop: threading.Event,
        run: Generation,
    ) -> Iterator[str]:
        """Yield text pieces as the model produces them; stop early when `stop` is set."""
        stats = GenerationStats()
        run.started = time.perf_counter()
        pieces = self._generator.generate(
            prompt.tokens,
            max_tokens,
            SamplingParams(temperature=temperature),
            grammar=self._grammar if structured else None,
            should_stop=stop.is_set,
            stats=stats,
        )
        try:
            for piece in pieces:
                if run.first_token is None:
                    run.first_token = time.perf_counter()
                run.text.append(piece)
                run.output_tokens = stats.tokens
                yield piece
        finally:
            pieces.close()
            run.output_tokens = stats.tokens
            run.finish_reason = stats.finish_reason
            run.finished = time.perf_counter()
