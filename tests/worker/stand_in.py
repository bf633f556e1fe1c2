"""A stand-in factory on loopback that the worker talks to over real HTTP, with scripted
misbehaviour: a refused summary or highlights, keep-alives only, a slow /extract or /audio,
or a hook run when a summary starts (to inject a fault in the middle of a job)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STRUCTURED = {
    "title": "Council approves the river bridge",
    "main_summary": "The council approved a $20 million bridge over the river.",
    "key_points": ["7 to 2 vote", "Opens in 2027"],
    "category": "politics",
    "sentiment": "neutral",
    "read_time_min": 1,
}
ENTITIES = [{"text": "Jane Okafor", "label": "Person", "score": 0.9, "start": 0, "end": 11}]
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 64


def done_event() -> dict[str, object]:
    return {
        "summary": STRUCTURED["main_summary"],
        "structured": STRUCTURED,
        "raw": json.dumps(STRUCTURED),
        "style": "skimmer",
        "model": "stand-in",
        "inference_time_ms": 1.0,
        "input_tokens": 10,
        "article_tokens": 25,
        "input_budget_tokens": 10,
        "input_selection": "ranked",
        "selected_sentences": 1,
        "dropped_sentences": 7,
        "prompt_tokens": 20,
        "output_tokens": 30,
        "truncated": False,
        "max_tokens": 256,
        "finish_reason": "stop",
        "timings": {
            "queue_ms": 0,
            "time_to_first_token_ms": 1,
            "generation_ms": 2,
            "tokens_per_second": 1,
        },
    }


def highlights_body(text: str) -> dict[str, object]:
    """The text's first sentence, with its offsets, as /highlights answers."""
    end = text.index(". ") + 1
    first = {"text": text[:end], "start": 0, "end": end, "score": 1.0, "rank": 1}
    return {
        "highlights": [first],
        "sentences": text.count(". ") + 1,
        "truncated": False,
        "model": "stand-in",
        "runtime": "none",
        "inference_time_ms": 1.0,
    }


def provenance_body(main_summary: str, key_points: list[str]) -> dict[str, object]:
    """Every claim supported by the first sentence, except one that names Springfield."""
    source = {"text": "Jane Okafor said", "start": 0, "end": 16, "similarity": 0.9}
    claims = []
    for kind, index, text in [("main_summary", 0, main_summary)] + [
        ("key_point", i, p) for i, p in enumerate(key_points)
    ]:
        invented = "Springfield" in text
        claims.append(
            {
                "kind": kind,
                "index": index,
                "text": text,
                "support": 0.9,
                "unsupported": invented,
                "reasons": ["unknown_name"] if invented else [],
                "unknown_numbers": [],
                "unknown_names": ["Springfield"] if invented else [],
                "sources": [source],
            }
        )
    return {
        "claims": claims,
        "unsupported": sum(c["unsupported"] for c in claims),
        "min_support": 0.5,
        "model": "stand-in",
        "sentences": 8,
        "truncated": False,
        "runtime": "none",
        "inference_time_ms": 1.0,
    }


@dataclass
class Script:
    summary: str = "stream"  # "stream", a status code ("422"), or "pings" (keep-alives only)
    highlights: str = "ok"  # "ok" or a status code the stand-in answers /highlights with
    pings_for_s: float = 8.0  # how long "pings" keeps the stream open before it ends
    extract_delay_s: float = 0.0
    audio_delay_s: float = 0.0
    on_summarize: Callable[[], None] | None = None
    calls: list[str] = field(default_factory=list)


def stand_in(script: Script) -> Starlette:
    async def summarize(request: Request) -> Response:
        script.calls.append("/summarize")
        if script.on_summarize is not None:
            await asyncio.to_thread(script.on_summarize)
        if script.summary.isdigit():
            body = {"error": "refused", "detail": "the stand-in refuses this summary"}
            return JSONResponse(body, int(script.summary))

        async def pings() -> AsyncIterator[str]:
            for _ in range(int(script.pings_for_s / 0.1)):
                yield ": ping\r\n\r\n"
                await asyncio.sleep(0.1)

        async def tokens() -> AsyncIterator[str]:
            text = json.dumps(STRUCTURED)
            for i in range(0, len(text), 7):
                piece = json.dumps({"text": text[i : i + 7]})
                yield f"event: token\r\ndata: {piece}\r\n\r\n"
            yield f"event: done\r\ndata: {json.dumps(done_event())}\r\n\r\n"

        body = pings() if script.summary == "pings" else tokens()
        return StreamingResponse(body, media_type="text/event-stream")

    async def highlights(request: Request) -> Response:
        script.calls.append("/highlights")
        if script.highlights.isdigit():
            body = {"error": "not_text", "detail": "the text does not look like prose"}
            return JSONResponse(body, int(script.highlights))
        return JSONResponse(highlights_body((await request.json())["text"]))

    async def provenance(request: Request) -> Response:
        script.calls.append("/provenance")
        body = await request.json()
        return JSONResponse(provenance_body(body["main_summary"], body["key_points"]))

    async def extract(request: Request) -> Response:
        script.calls.append("/extract")
        await asyncio.sleep(script.extract_delay_s)
        return JSONResponse({"entities": ENTITIES, "model": "stand-in", "engine": "stand-in"})

    async def audio(request: Request) -> Response:
        script.calls.append("/audio")
        await asyncio.sleep(script.audio_delay_s)
        return Response(MP3, media_type="audio/mpeg", headers={"X-TTS-Engine": "stand-in"})

    return Starlette(
        routes=[
            Route("/summarize", summarize, methods=["POST"]),
            Route("/highlights", highlights, methods=["POST"]),
            Route("/provenance", provenance, methods=["POST"]),
            Route("/extract", extract, methods=["POST"]),
            Route("/audio", audio, methods=["POST"]),
        ]
    )
