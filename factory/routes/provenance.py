"""POST /provenance: each claim of a summary linked to the article sentences behind it."""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Depends

from factory.deps import ModelsDep, SettingsDep, check_size, require_token
from factory.grounding import Grounding, ground, summary_claims
from factory.highlights import candidate_sentences, check_is_text
from factory.openapi import model_errors
from shared.http_errors import ApiError
from shared.schemas import ProvenanceRequest, ProvenanceResponse

router = APIRouter(dependencies=[Depends(require_token)])


@router.post(
    "/provenance",
    response_model=ProvenanceResponse,
    responses=model_errors(
        "the text is not prose (`not_text`) or has no sentence (`no_sentences`), or the "
        "summary has none (`no_claims`)"
    ),
)
async def provenance(
    req: ProvenanceRequest, models: ModelsDep, settings: SettingsDep
) -> ProvenanceResponse:
    """Every sentence of `main_summary` and every key point, with its best supporting
    article sentences (offsets, similarity), a `support` score and, when the article does
    not back it (low support, a number or a proper name it never states), `unsupported`
    with the reasons."""
    check_size(req.text, settings.max_text_bytes, "text")
    check_is_text(req.text)
    claims = [
        c
        for c in summary_claims(req.main_summary, req.key_points)
        if any(ch.isalnum() for ch in c.text)
    ]
    if not claims:
        raise ApiError(422, "no_claims", "the summary has no sentence to check")
    embedder = models.embeddings.get()
    ticket = models.gates["embeddings"].admit()
    grounding = Grounding(min_support=settings.grounding_min_support, sources=req.sources)

    def work() -> ProvenanceResponse:
        with ticket.running():
            started = time.perf_counter()
            sentences, truncated = candidate_sentences(
                req.text, settings.highlights_max_chars, settings.highlights_max_sentences
            )
            if not sentences:
                raise ApiError(422, "no_sentences", "the text has no sentence to compare with")
            vectors = embedder.embed([s.text for s in sentences])
            claim_vectors = embedder.embed([c.text for c in claims])
        checked = ground(req.text, sentences, vectors, claims, claim_vectors, grounding)
        return ProvenanceResponse(
            claims=checked,
            unsupported=sum(c.unsupported for c in checked),
            min_support=grounding.min_support,
            model=embedder.name,
            sentences=len(sentences),
            truncated=truncated,
            runtime=embedder.runtime,
            inference_time_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    try:
        return await anyio.to_thread.run_sync(work)
    finally:
        ticket.release()
