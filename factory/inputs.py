"""The article as the summary's prompt gets it: whole, or within the input budget."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import anyio

from factory import budget as budgeting
from factory.backend import LlmBackend
from factory.models import Models
from shared.http_errors import ApiError
from shared.schemas import SummarizeRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputReport:
    chosen: budgeting.Budgeted
    budget: int


async def choose_input(
    req: SummarizeRequest, budget: int, summarizer: LlmBackend, models: Models
) -> budgeting.Budgeted:
    """`req.text` within `budget` tokens (0 = no budget). Ranked selection scores sentences
    with the embedder, under its gate, before the LLM is queued for; when the embedder is not
    ready or is busy, sentences are ranked by position (`lead`) rather than failing."""
    if budget <= 0:
        return budgeting.Budgeted(req.text, "off", 0)
    count = summarizer.count_tokens
    started = time.perf_counter()
    if req.input_selection == "head":
        chosen = await anyio.to_thread.run_sync(budgeting.head, req.text, budget, count)
    else:
        ticket = None
        if models.embeddings.state == "ready":
            try:
                ticket = models.gates["embeddings"].admit()
            except ApiError as exc:
                log.info("ranking the input by position: the embedder is %s", exc.code)
        embedder = models.embeddings.value if ticket is not None else None

        def work() -> budgeting.Budgeted:
            if ticket is None or embedder is None:
                return budgeting.select(req.text, budget, count, None)
            with ticket.running():
                try:
                    return budgeting.select(req.text, budget, count, embedder.embed)
                except Exception:  # the summary must not fail for its input's ranking
                    log.exception("the embedder failed; ranking the input by position")
            return budgeting.select(req.text, budget, count, None)

        try:
            chosen = await anyio.to_thread.run_sync(work)
        finally:
            if ticket is not None:
                ticket.release()
    return dataclasses.replace(chosen, ms=(time.perf_counter() - started) * 1000)
