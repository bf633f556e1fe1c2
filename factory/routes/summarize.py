"""POST /summarize: a plain or structured summary, whole or streamed as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import suppress

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from factory.deps import ModelsDep, SettingsDep, check_size, require_token
from factory.generation import LiveGeneration
from factory.inputs import InputReport, choose_input
from factory.openapi import SUMMARY_EVENTS, model_errors
from shared.http_errors import ApiError, error_response, request_id
from shared.schemas import (
    GeneratedSummary,
    StructuredSummary,
    SummarizeRequest,
    SummarizeResponse,
    Timings,
    read_time_minutes,
)

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_token)])


@router.post(
    "/summarize",
    response_model=SummarizeResponse,
    responses={
        200: SUMMARY_EVENTS.response("The summary, or with `stream: true` its events."),
        **model_errors(
            unavailable="with FACTORY_LLM_BACKEND=openai, the remote server is busy beyond the "
            "retry time (`remote_llm_busy`) or does not answer (`remote_llm_unreachable`)"
        ),
        502: error_response(
            "the model's JSON did not validate (`unparseable_output`), or the remote LLM "
            "server failed or refused the request (`remote_llm_failed`, `remote_llm_refused`)"
        ),
        504: error_response("the remote LLM server went silent (`remote_llm_timeout`)"),
    },
)
async def summarize(
    req: SummarizeRequest, request: Request, models: ModelsDep, settings: SettingsDep
) -> SummarizeResponse | EventSourceResponse:
    """Plain or structured summary. `stream=true` answers with Server-Sent Events:
    `token` events (`{"text": piece}`), then one `done` event carrying the full response
    (or an `error` event)."""
    check_size(req.text, settings.max_text_bytes, "text")
    summarizer = models.llm.get()
    cap = settings.llm_max_output_tokens
    default = cap if req.structured else settings.llm_default_max_tokens
    max_tokens = min(req.max_tokens or default, cap)
    budget = settings.llm_input_budget_tokens
    if req.input_budget_tokens is not None:
        budget = req.input_budget_tokens
    chosen = await choose_input(req, budget, summarizer, models)
    limit = budget if chosen.applied == "head" else None
    prompt = summarizer.prepare(req.style, req.structured, chosen.text, max_tokens, limit)
    ticket = models.gates["llm"].admit()
    live = LiveGeneration(
        summarizer, ticket, prompt, max_tokens, req.temperature, req.structured, models.record
    )
    report = InputReport(chosen, budget)
    if req.stream:
        return EventSourceResponse(
            _sse(req, live, summarizer.name, report, request_id(request)),
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
    return _result(req, live, summarizer.name, report)


def _result(
    req: SummarizeRequest, live: LiveGeneration, model: str, report: InputReport
) -> SummarizeResponse:
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
        demo_model=live.summarizer.demo,
        inference_time_ms=round(run.generation_ms, 1),
        input_tokens=live.prompt.article_tokens,
        article_tokens=report.chosen.article_tokens or live.prompt.given_tokens,
        input_budget_tokens=report.budget,
        input_selection=report.chosen.applied,
        selected_sentences=report.chosen.selected_sentences,
        dropped_sentences=report.chosen.dropped_sentences,
        prompt_tokens=run.prompt_tokens or live.prompt.size,
        output_tokens=run.output_tokens,
        output_repaired=run.repaired,
        truncated=live.prompt.truncated,
        max_tokens=live.max_tokens,
        finish_reason=run.finish_reason,
        timings=Timings(
            input_ms=round(report.chosen.ms, 1),
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


async def _sse(
    req: SummarizeRequest, live: LiveGeneration, model: str, report: InputReport, rid: str
) -> AsyncIterator[dict[str, str]]:
    seq = 0
    try:
        async for piece in live.pieces():
            seq += 1
            yield {"event": "token", "id": str(seq), "data": json.dumps({"text": piece})}
        result = _result(req, live, model, report)
        yield {"event": "done", "id": str(seq + 1), "data": result.model_dump_json()}
    except ApiError as exc:
        body = {"error": exc.code, "detail": exc.detail}
        yield {"event": "error", "id": str(seq + 1), "data": json.dumps(body)}
    except Exception:
        log.exception("request id %s: the streamed generation failed", rid)
        body = {
            "error": "generation_failed",
            "detail": f"the generation failed; quote request id {rid}",
            "request_id": rid,
        }
        yield {"event": "error", "id": str(seq + 1), "data": json.dumps(body)}
    finally:
        live.stop.set()  # the client left, or we are done: either way free the model
