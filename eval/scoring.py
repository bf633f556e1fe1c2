"""ROUGE-1/2/L F-measures (rouge-score, Porter-stemmed) and the lead-3 baseline."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from factory.sentences import split_sentences
from shared import defaults as d


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(reference: str, candidate: str) -> dict[str, float]:
    """`rouge1`, `rouge2`, `rougeL` F-measures of `candidate` against `reference`."""
    got = _scorer().score(reference, candidate)
    return {k: round(float(v.fmeasure), 4) for k, v in got.items()}


def lead3(text: str) -> str:
    """The first three sentences of four words or more (as bench/highlights.py takes them)."""
    sentences = split_sentences(text, max_chars=d.HIGHLIGHTS_MAX_CHARS)
    pool = [s for s in sentences if len(s.text.split()) >= d.HIGHLIGHT_MIN_WORDS] or sentences
    return " ".join(s.text for s in pool[:3])
