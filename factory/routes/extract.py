"""POST /extract: entities with character offsets into the text sent."""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Depends

from factory.deps import ModelsDep, SettingsDep, check_size, require_token
from factory.openapi import model_errors
from shared.schemas import ExtractRequest, ExtractResponse

router = APIRouter(dependencies=[Depends(require_token)])


@router.post("/extract", response_model=ExtractResponse, responses=model_errors())
async def extract(req: ExtractRequest, models: ModelsDep, settings: SettingsDep) -> ExtractResponse:
    """Entities with character offsets into the text sent: `text[start:end] == entity.text`."""
    check_size(req.text, settings.max_text_bytes, "text")
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
