"""The summarising LLM on a remote OpenAI-compatible server, behind the same contract as the
local GGUF: plain, structured or streamed, with token caps and timings."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from factory import prompts
from factory.hub import ModelLoadError, ModelUnreachableError
from factory.llm import Generation, LlmSource, Prompt
from factory.openai_api import Cancelled, OpenAIClient, RemoteStatusError, as_api_error
from shared.http_errors import ApiError
from shared.schemas import GeneratedSummary, LlmBackendStatus, Style
from shared.settings import FactorySettings, RemoteStructured

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger(__name__)

# Chat-template tokens around the two messages, beyond their text (Llama-3 uses ~10).
_TEMPLATE_TOKENS = 32
_HEALTH_TTL_S = 5.0
_HEALTH_TIMEOUT_S = 2.0
# Each refusal of a structured-output form falls back to the next, and is remembered.
_LADDER: tuple[RemoteStructured, ...] = ("json_schema", "json_object", "prompt")
_REPAIR = (
    "That answer is not valid JSON of the required form ({error}). Reply with the corrected "
    "JSON only: an object with title, main_summary, key_points, category and sentiment."
)


def response_format(mode: RemoteStructured, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "summary", "schema": schema}}
    if mode == "json_object":  # `schema` is llama-cpp-python's and llama-server's extension
        return {"type": "json_object", "schema": schema}
    return None


def _leniently(text: str) -> str | None:
    """`text` as strict JSON, when it validates once raw control characters inside strings
    (a newline in a key point) are allowed: several servers' JSON modes let them through."""
    try:
        parsed = json.loads(text, strict=False)
        GeneratedSummary.model_validate(parsed)
    except (ValueError, ValidationError):
        return None
    return json.dumps(parsed, ensure_ascii=False)


def _invalid(text: str) -> str | None:
    """Why `text` is not a valid summary object, or None."""
    try:
        GeneratedSummary.model_validate_json(text)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


class RemoteSummarizer:
    """Streams chat completions from one server; as many run at once as its gate admits."""

    def __init__(self, settings: FactorySettings, client: OpenAIClient, model: str) -> None:
        self.settings = settings
        self.client = client
        self.model = model
        self.name = model
        self.demo = False
        self.source: LlmSource | None = None
        self.n_ctx = settings.llm_remote_context_tokens
        self._schema = GeneratedSummary.model_json_schema()
        forced = settings.llm_remote_structured
        self._rungs = _LADDER if forced == "auto" else (forced,)
        self._rung = 0
        self._health_lock = threading.Lock()
        self._health: tuple[float, str | None] | None = None  # (when, the probe's error)

    @classmethod
    def load(cls, settings: FactorySettings) -> RemoteSummarizer:
        """Connect and check the model: an unreachable server is tried again later; a refused
        key or an unknown model is said once, plainly."""
        client = OpenAIClient(settings)
        try:
            model = cls._check(client, settings.llm_remote_model)
        except BaseException:
            client.close()
            raise
        log.info("LLM ready: %s on the remote OpenAI-compatible server %s", model, client.url)
        return cls(settings, client, model)

    @staticmethod
    def _check(client: OpenAIClient, wanted: str | None) -> str:
        url = client.url
        try:
            offered = client.models()
        except RemoteStatusError as exc:
            if exc.transient:
                raise ModelUnreachableError(
                    f"the remote LLM server {url} answered {exc.status}; trying again later"
                ) from exc
            raise ModelLoadError(as_api_error(exc, "").detail + f" (GET {url}/models)") from exc
        except ApiError as exc:
            if exc.code == "remote_llm_unreachable" or exc.status == 504:
                raise ModelUnreachableError(
                    f"cannot reach the remote LLM server {url} ({exc.detail}): check "
                    "FACTORY_LLM_REMOTE_URL and that the server runs"
                ) from exc
            raise ModelLoadError(exc.detail) from exc
        if wanted is None:
            if not offered:
                raise ModelLoadError(f"the remote LLM server {url} lists no model")
            return offered[0]
        if offered and wanted not in offered:
            raise ModelLoadError(
                f"the remote LLM server {url} has no model {wanted!r} "
                f"(FACTORY_LLM_REMOTE_MODEL); it offers: {', '.join(offered[:10])}"
            )
        return wanted

    def status(self) -> LlmBackendStatus:
        """Whether the server answers (asked at most every few seconds) and the structured
        form in use (as of now)."""
        with self._health_lock:
            now = time.monotonic()
            if self._health is None or now - self._health[0] >= _HEALTH_TTL_S:
                error = None
                try:
                    self.client.models(timeout=_HEALTH_TIMEOUT_S)
                except (ApiError, RemoteStatusError) as exc:
                    error = exc.detail
                self._health = (now, error)
            error = self._health[1]
        return LlmBackendStatus(
            kind="openai",
            model=self.model,
            url=self.client.url,
            reachable=error is None,
            error=error,
            structured_output=self._rungs[self._rung],
        )

    def close(self) -> None:
        self.client.close()

    def count_tokens(self, text: str) -> int:
        """An estimate from its characters: the server's tokenizer is not here."""
        return math.ceil(len(text.strip()) / self.settings.llm_remote_chars_per_token)

    def prepare(
        self,
        style: Style,
        structured: bool,
        article: str,
        max_tokens: int,
        limit_tokens: int | None = None,
    ) -> Prompt:
        """The chat messages, the article cut (at a word) so `max_tokens` still fit."""
        frame = (
            self.count_tokens(prompts.SYSTEM_PROMPT)
            + self.count_tokens(prompts.user_message(style, structured, ""))
            + _TEMPLATE_TOKENS
        )
        text = article.strip()
        given = self.count_tokens(text)
        room = self.n_ctx - frame - max_tokens
        if room < 1:
            raise ValueError(f"max_tokens={max_tokens} leaves no room for the article")
        keep = room if limit_tokens is None else min(room, limit_tokens)
        if given > keep:
            cut = text[: int(keep * self.settings.llm_remote_chars_per_token)]
            text = cut.rsplit(None, 1)[0] if " " in cut else cut
        used = self.count_tokens(text)
        return Prompt(
            [],
            used,
            given > room,
            given,
            messages=prompts.messages(style, structured, text),
            estimated_tokens=frame + used,
        )

    def _body(self, prompt: Prompt, max_tokens: int, temperature: float) -> dict[str, Any]:
        return {
            **self.settings.llm_remote_extra_body,
            "model": self.model,
            "messages": prompt.messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream_options": {"include_usage": True},
        }

    def _open(self, body: dict[str, Any], structured: bool, stop: threading.Event) -> Any:
        """Open the stream; a server that refuses the structured-output form gets the next.
        A form is remembered only once a request with it opened: a request refused for
        another reason (too long for the server's context, say) refuses every form and must
        not leave later requests with a weaker one."""
        refusal: RemoteStatusError | None = None
        for index in range(self._rung, len(self._rungs)):
            rung = self._rungs[index]
            fmt = response_format(rung, self._schema) if structured else None
            try:
                stream = self.client.stream_chat(
                    {**body, "response_format": fmt} if fmt else body, stop
                )
            except RemoteStatusError as exc:
                if fmt is None or not exc.refuses_response_format:
                    raise
                refusal = exc
                continue
            if index != self._rung and refusal is not None:
                log.warning(
                    "the remote server refused response_format %s (%s); %s works: using it",
                    self._rungs[self._rung],
                    refusal.detail[:120],
                    rung,
                )
                self._rung = index
            return stream, rung
        assert refusal is not None
        raise refusal

    def generate(
        self,
        prompt: Prompt,
        max_tokens: int,
        temperature: float,
        structured: bool,
        stop: threading.Event,
        run: Generation,
    ) -> Iterator[str]:
        """Yield the server's text pieces as they come; never more than `max_tokens`."""
        run.started = time.perf_counter()
        body = self._body(prompt, max_tokens, temperature)
        try:
            try:
                stream, rung = self._open(body, structured, stop)
            except Cancelled:
                run.finish_reason = "cancelled"
                return
            try:
                yield from self._read(stream.events, max_tokens, stop, run)
            finally:
                stream.close()
            if structured and run.finish_reason != "cancelled":
                self._repair(body, rung, stop, run)
        except Exception as exc:
            raise as_api_error(exc, self.model) from exc
        finally:
            run.finished = time.perf_counter()

    def _read(
        self,
        events: Iterator[dict[str, Any] | None],
        max_tokens: int,
        stop: threading.Event,
        run: Generation,
    ) -> Iterator[str]:
        finish: str | None = None
        pieces = 0
        completion_tokens = None
        seen = False  # any event at all
        for chunk in events:
            seen = True
            if stop.is_set():
                run.finish_reason = "cancelled"
                return
            if chunk is None:  # [DONE]
                if finish is None:
                    raise ApiError(
                        502,
                        "remote_llm_failed",
                        f"the remote server ended the stream without a finish_reason after "
                        f"{pieces} pieces (interrupted by another request?)",
                    )
                run.finish_reason = "length" if finish == "length" else "stop"
                if completion_tokens:
                    run.output_tokens = max(completion_tokens, pieces)
                return
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                run.prompt_tokens = usage.get("prompt_tokens") or run.prompt_tokens
                completion_tokens = usage.get("completion_tokens") or completion_tokens
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    if pieces >= max_tokens:  # a server that ignores max_tokens
                        run.finish_reason = "length"
                        return
                    if run.first_token is None:
                        run.first_token = time.perf_counter()
                    pieces += 1
                    run.text.append(piece)
                    run.output_tokens = pieces
                    yield piece
                finish = choice.get("finish_reason") or finish
        if not seen:
            raise ApiError(
                502,
                "remote_llm_failed",
                "the remote server took the request and sent nothing (llama_cpp.server does "
                "this for a prompt longer than its context: is FACTORY_LLM_REMOTE_CONTEXT_TOKENS "
                f"({self.n_ctx}) the server's?)",
            )
        raise ApiError(
            502,
            "remote_llm_failed",
            f"the remote server's stream ended without [DONE] after {pieces} pieces",
        )

    def _repair(
        self, body: dict[str, Any], rung: RemoteStructured, stop: threading.Event, run: Generation
    ) -> None:
        """JSON that does not validate is re-read leniently, else gets one repair request
        (the schema was not enforced, or the cap cut it); if that fails too, the route answers
        `unparseable_output`."""
        raw = "".join(run.text)
        error = _invalid(raw)
        if error is None:
            return
        reread = _leniently(raw)
        if reread is not None:
            run.text, run.repaired = [reread], True
            return
        log.info("the remote model's JSON did not validate (%s); asking once to repair it", error)
        fmt = response_format(rung, self._schema)
        messages = [
            *body["messages"],
            {"role": "assistant", "content": raw},
            {"role": "user", "content": _REPAIR.format(error=error)},
        ]
        repair = {**body, "messages": messages, "temperature": 0.0}
        repair.pop("stream_options", None)
        if fmt:
            repair["response_format"] = fmt
        try:
            answer = self.client.chat(repair, stop)
            fixed = answer["choices"][0]["message"]["content"] or ""
        except Cancelled:
            return
        except (KeyError, IndexError, TypeError):
            return
        fixed = fixed if _invalid(fixed) is None else _leniently(fixed) or fixed
        if _invalid(fixed) is None:
            run.text = [fixed]
            run.repaired = True
            run.finish_reason = "stop"
