"""The factory's HTTP API (port 7860): /summarize, /extract, /audio, /health, /readyz."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from factory.generation import LiveGeneration
from factory.highlights_api import router as highlights_router
from factory.models import Models
from factory.tts import TtsError
from shared.http_errors import ApiError, BodyLimitMiddleware, install_error_handlers
from shared.schemas import (
    AudioRequest,
    ExtractRequest,
    ExtractResponse,
    FactoryHealth,
    GeneratedSummary,
    StructuredSummary,
    SummarizeRequest,
    SummarizeResponse,
    Timings,
    read_time_minutes,
)
from shared.settings import FactorySettings


def get_models(request: Request) -> Models:
    return request.app.state.models


def get_settings(request: Request) -> FactorySettings:
    return request.app.state.settings


ModelsDep = Annotated[Models, Depends(get_models)]
SettingsDep = Annotated[FactorySettings, Depends(get_settings)]


def require_token(request: Request, settings: SettingsDep) -> None:
    """When an internal token is set, only callers that present it get in."""
    if settings.internal_token is None:
        return
    expected = f"Bearer {settings.internal_token.get_secret_value()}"
    given = request.headers.get("authorization", "")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong internal token")


def _check_size(text: str, limit: int, what: str) -> None:
    size = len(text.encode())
    if size > limit:
        raise ApiError(413, "text_too_large", f"{what} is {size} bytes; the limit is {limit}")


def health(models: Models) -> FactoryHealth:
    slots = models.slots()
    states = {slot.state for slot in slots.values()}
    status = "degraded" if "failed" in states else "loading" if "loading" in states else "healthy"
    narrator = models.tts.value
    settings = models.settings
    return FactoryHealth(
        status=status,
        models_loaded=[k for k, s in slots.items() if s.state == "ready"],
        uptime_seconds=round(time.monotonic() - models.started, 3),
        llama_loaded=models.llm.state == "ready",
        gliner_loaded=settings.ner_engine == "gliner" and models.ner.state == "ready",
        ner_engine=settings.ner_engine,
        tts_engine=narrator.engines[0].name if narrator else settings.tts_engines[0],
        tts_engines=[e.name for e in narrator.engines] if narrator else [],
        tts_last_engine=narrator.last_engine if narrator else None,
        tts_unavailable=narrator.unavailable if narrator else {},
        models={k: s.status() for k, s in slots.items()},
        gates={k: g.status() for k, g in models.gates.items()},
        generations_cancelled=models.generations_cancelled,
    )


def _result(req: SummarizeRequest, live: LiveGeneration, model: str) -> SummarizeResponse:
    run = live.run
    raw = "".join(run.text)
    structured = None
    summary = raw.strip()
    if req.structured and run.finish_reason != "cancelled":
        try:
            generated = GeneratedSummary.model_validate_json(raw)
        except ValidationError as exc:
            raise ApiError(
                502,
                "unparseable_output",
                f"the model's JSON did not validate (finish_reason={run.finish_reason}): "
                f"{exc.errors()[0]['msg']}",
            ) from exc
        structured = StructuredSummary(
            **generated.model_dump(), read_time_min=read_time_minutes(req.text)
        )
        summary = structured.main_summary
    return SummarizeResponse(
        summary=summary,
        structured=structured,
        raw=raw,
        style=req.style,
        model=model,
        inference_time_ms=round(run.generation_ms, 1),
        input_tokens=live.prompt.article_tokens,
        prompt_tokens=len(live.prompt.tokens),
        output_tokens=run.output_tokens,
        truncated=live.prompt.truncated,
        max_tokens=live.max_tokens,
        finish_reason=run.finish_reason,
        timings=Timings(
            queue_ms=round(live.queue_ms, 1),
            time_to_first_token_ms=None if run.ttft_ms is None else round(run.ttft_ms, 1),
            generation_ms=round(run.generation_ms, 1),
            tokens_per_second=None
            if run.tokens_per_second is None
            else round(run.tokens_per_second, 2),
        ),
    )


async def _stop_on_disconnect(request: Request, live: LiveGeneration) -> None:
    while not live.stop.is_set():
        if await request.is_disconnected():
            live.stop.set()
            return
        await asyncio.sleep(0.2)


def create_app(settings: FactorySettings | None = None) -> FastAPI:
    settings = settings or FactorySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models = Models(settings)
        app.state.models = models
        models.start_loading()
        yield
        await anyio.to_thread.run_sync(models.close)

    app = FastAPI(
        title="Segmento Pulse factory",
        summary="Internal model server: summaries, entities, narration (CPU only).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    install_error_handlers(app)
    guarded = [Depends(require_token)]

    @app.get("/health", response_model=FactoryHealth)
    def get_health(models: ModelsDep) -> FactoryHealth:
        """Answers at once, also while models load: `loading`, `healthy` or `degraded`."""
        return health(models)

    @app.get("/healthz")
    def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    def readiness(models: ModelsDep) -> JSONResponse:
        """503 until every required model is loaded (and for good if one failed)."""
        missing = models.missing_for_ready()
        if missing:
            headers = {"Retry-After": str(settings.retry_after_s)}
            return JSONResponse({"ready": False, "waiting_for": missing}, 503, headers=headers)
        return JSONResponse({"ready": True})

    @app.get("/voices")
    def voices() -> dict[str, object]:
        return {"voices": settings.voices, "default": settings.default_voice}

    @app.post(
        "/summarize",
        response_model=SummarizeResponse,
        dependencies=guarded,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def summarize(
        req: SummarizeRequest, request: Request, models: ModelsDep
    ) -> SummarizeResponse | EventSourceResponse:
        """Plain or structured summary. `stream=true` answers with Server-Sent Events:
        `token` events (`{"text": piece}`), then one `done` event carrying the full response
        (or an `error` event)."""
        _check_size(req.text, settings.max_text_bytes, "text")
        summarizer = models.llm.get()
        cap = settings.llm_max_output_tokens
        default = cap if req.structured else settings.llm_default_max_tokens
        max_tokens = min(req.max_tokens or default, cap)
        prompt = summarizer.prepare(req.style, req.structured, req.text, max_tokens)
        ticket = models.gates["llm"].admit()
        live = LiveGeneration(
            summarizer, ticket, prompt, max_tokens, req.temperature, req.structured, models.record
        )
        if req.stream:
            return EventSourceResponse(
                _sse(req, live, summarizer.name),
                ping=15,
                headers={"X-Accel-Buffering": "no"},
            )
        watcher = asyncio.create_task(_stop_on_disconnect(request, live))
        try:
            async for _ in live.pieces():
                pass
        finally:
            live.stop.set()
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
        return _result(req, live, summarizer.name)

    @app.post("/extract", response_model=ExtractResponse, dependencies=guarded)
    async def extract(req: ExtractRequest, models: ModelsDep) -> ExtractResponse:
        """Entities with character offsets into the text sent: `text[start:end] == entity.text`."""
        _check_size(req.text, settings.max_text_bytes, "text")
        extractor = models.ner.get()
        ticket = models.gates["ner"].admit()

        def work() -> tuple[object, float]:
            with ticket.running():
                started = time.perf_counter()
                out = extractor.extract(req.text, req.labels, req.threshold)
                return out, (time.perf_counter() - started) * 1000

        try:
            out, ms = await anyio.to_thread.run_sync(work)
        finally:
            ticket.release()
        return ExtractResponse(
            entities=out.entities,  # type: ignore[attr-defined]
            model=extractor.name,
            engine=extractor.engine,
            inference_time_ms=round(ms, 1),
            chunks=out.chunks,  # type: ignore[attr-defined]
            unsupported_labels=out.unsupported_labels,  # type: ignore[attr-defined]
        )

    app.include_router(highlights_router, dependencies=guarded)

    @app.post(
        "/audio",
        dependencies=guarded,
        response_class=Response,
        responses={200: {"content": {"audio/mpeg": {}}, "description": "the whole MP3"}},
    )
    async def audio(req: AudioRequest, models: ModelsDep) -> Response:
        """MP3 narration. The body is complete before the 200 is sent; `X-TTS-Engine` names
        the engine that spoke and `X-TTS-Fallback` why earlier engines did not."""
        _check_size(req.text, settings.max_audio_text_bytes, "text")
        voice = req.voice or settings.default_voice
        if voice not in settings.voices:
            known = ", ".join(settings.voices)
            raise ApiError(422, "unknown_voice", f"unknown voice {voice!r}; known: {known}")
        narrator = models.tts.get()
        ticket = models.gates["tts"].admit()
        try:
            speech = await narrator.speak(req.text, voice, req.rate, req.volume)
        except TtsError as exc:
            raise ApiError(502, "tts_failed", str(exc), retry_after=settings.retry_after_s) from exc
        finally:
            ticket.release()
        headers = {"X-TTS-Engine": speech.engine}
        if speech.fallback_reasons:
            headers["X-TTS-Fallback"] = " | ".join(speech.fallback_reasons)[:500]
        return Response(speech.mp3, media_type="audio/mpeg", headers=headers)

    return app


async def _sse(
    req: SummarizeRequest, live: LiveGeneration, model: str
) -> AsyncIterator[dict[str, str]]:
    seq = 0
    try:
        async for piece in live.pieces():
            seq += 1
            yield {"event": "token", "id": str(seq), "data": json.dumps({"text": piece})}
        result = _result(req, live, model)
        yield {"event": "done", "id": str(seq + 1), "data": result.model_dump_json()}
    except ApiError as exc:
        body = {"error": exc.code, "detail": exc.detail}
        yield {"event": "error", "id": str(seq + 1), "data": json.dumps(body)}
    except Exception as exc:
        body = {"error": "generation_failed", "detail": f"{type(exc).__name__}: {exc}"}
        yield {"event": "error", "id": str(seq + 1), "data": json.dumps(body)}
    finally:
        live.stop.set()  # the client left, or we are done: either way free the model
