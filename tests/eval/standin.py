"""A stand-in factory at the eval's edge: the real request and response schemas, canned answers,
and a page that fails on purpose. It loads no model, so the harness's own handling of a failing
page is tested in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from shared.schemas import (
    HighlightsRequest,
    ProvenanceRequest,
    StructuredSummary,
    SummarizeRequest,
    SummarizeResponse,
    Timings,
)


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def standin_factory(fail_on: str, invalid_json_on: str = "head") -> FastAPI:
    """Answers like the factory; texts containing `fail_on` get a 500 from every route, and
    summaries with `input_selection == invalid_json_on` end in an `unparseable_output` event."""
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"models": {"llm": {"name": "stand-in", "state": "ready"}}}

    @app.post("/highlights", response_model=None)
    def highlights(req: HighlightsRequest) -> JSONResponse | dict[str, object]:
        if fail_on in req.text:
            return JSONResponse({"error": "internal", "detail": "boom"}, 500)
        return {"highlights": [], "sentences": 1}

    @app.post("/summarize", response_model=None)
    def summarize(req: SummarizeRequest) -> JSONResponse | StreamingResponse:
        if fail_on in req.text:
            return JSONResponse({"error": "internal", "detail": "boom on this page"}, 500)
        words = req.text.split()
        article = len(words)
        budget = req.input_budget_tokens or 0
        read = min(article, budget) if budget else article
        summary = " ".join(words[:12]) + "."
        done = SummarizeResponse(
            summary=summary,
            structured=StructuredSummary(
                title=" ".join(words[:5]),
                main_summary=summary,
                key_points=[" ".join(words[:6])],
                category="other",
                sentiment="neutral",
                read_time_min=1,
            ),
            raw="{}",
            style=req.style,
            model="stand-in",
            inference_time_ms=1.0,
            input_tokens=read,
            article_tokens=article,
            input_budget_tokens=budget,
            input_selection=req.input_selection if budget else "off",
            prompt_tokens=read + 50,
            output_tokens=20,
            truncated=False,
            max_tokens=req.max_tokens or 1024,
            finish_reason="stop",
            timings=Timings(
                queue_ms=0, time_to_first_token_ms=1, generation_ms=2, tokens_per_second=None
            ),
        )

        def events() -> Iterator[str]:
            yield _sse("token", json.dumps({"text": "{"}))
            if budget and req.input_selection == invalid_json_on:
                body = {
                    "error": "unparseable_output",
                    "detail": "the model's JSON did not validate",
                }
                yield _sse("error", json.dumps(body))
            else:
                yield _sse("done", done.model_dump_json())

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/provenance")
    def provenance(req: ProvenanceRequest) -> dict[str, object]:
        claims = [{"text": req.main_summary}, *({"text": k} for k in req.key_points)]
        return {"claims": claims, "unsupported": 1}

    return app
