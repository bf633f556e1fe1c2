"""POST /highlights: the article's most central sentences, with their offsets."""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Depends

from factory.deps import ModelsDep, SettingsDep, check_size, require_token
from factory.highlights import candidate_sentences, check_is_text, highlight_indices
from factory.openapi import model_errors
from shared.http_errors import ApiError
from shared.schemas import Highlight, HighlightsRequest, HighlightsResponse

router = APIRouter(dependencies=[Depends(require_token)])


@router.post(
    "/highlights",
    response_model=HighlightsResponse,
    responses=model_errors(
        "the text is not prose (`not_text`) or has no sentence (`no_sentences`)"
    ),
)
async def highlights(
    req: HighlightsRequest, models: ModelsDep, settings: SettingsDep
) -> HighlightsResponse:
    """Up to `k` sentences, best first, each exactly `text[start:end]`. A text without
    punctuation is cut into windows of words; only the start of a very long text is read
    (`truncated`). Binary junk is refused with 422 `not_text`."""
    check_size(req.text, settings.max_text_bytes, "text")
    check_is_text(req.text)
    embedder = models.embeddings.get()
    ticket = models.gates["embeddings"].admit()

    def work() -> tuple[list[Highlight], int, bool, float]:
        with ticket.running():
            started = time.perf_counter()
            sentences, truncated = candidate_sentences(
                req.text, settings.highlights_max_chars, settings.highlights_max_sentences
            )
            best = highlight_indices(sentences, embedder.embed, req.k)
            ms = (time.perf_counter() - started) * 1000
        found = [
            Highlight(
                text=sentences[i].text,
                start=sentences[i].start,
                end=sentences[i].end,
                score=score,
                rank=rank,
            )
            for rank, (i, score) in enumerate(best, start=1)
        ]
        return found, len(sentences), truncated, ms

    try:
        found, count, truncated, ms = await anyio.to_thread.run_sync(work)
    finally:
        ticket.release()
    if not found:
        raise ApiError(422, "no_sentences", "the text has no sentence to highlight")
    return HighlightsResponse(
        highlights=found,
        sentences=count,
        truncated=truncated,
        model=embedder.name,
        runtime=embedder.runtime,
        inference_time_ms=round(ms, 1),
    )
