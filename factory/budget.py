"""The input budget: an article longer than the budget reaches the LLM as its lead and its
highest-scored sentences, in document order, never a sentence cut in half.

On 2 CPU cores evaluating the prompt is most of a summary's time, so fewer input tokens pay
most. Sentences are scored like highlights (embedding centrality blended with a position
prior), with a weaker prior: the lead is kept anyway, and what fills the rest of the budget
should be what the article is about, not merely what comes next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from factory.highlights import Ranking, scores
from factory.sentences import Sentence, split_sentences
from shared import defaults as d

Selection = Literal["ranked", "head"]
Applied = Literal["off", "under_budget", "ranked", "lead", "head"]
CountTokens = Callable[[str], int]
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Budgeted:
    """What reaches the model, and how it was chosen."""

    text: str
    applied: Applied
    article_tokens: int
    selected_sentences: int | None = None
    dropped_sentences: int | None = None
    ms: float = 0.0  # time taken to choose


def _join(article: str, kept: list[Sentence]) -> str:
    """The kept sentences with the article's own spacing between neighbours, and a paragraph
    break where sentences were left out."""
    parts: list[str] = []
    for i, sentence in enumerate(kept):
        if i:
            before = kept[i - 1]
            between = article[before.end : sentence.start]
            adjacent = not article[before.end : sentence.start].strip()
            parts.append(between if adjacent else "\n\n")
        parts.append(sentence.text)
    return "".join(parts)


def select(
    article: str,
    budget: int,
    count: CountTokens,
    embed: Embed | None,
    ranking: Ranking | None = None,
) -> Budgeted:
    """The article within `budget` tokens: whole when it fits; else the lead sentence (whole,
    even when it alone is over the budget), then the best-scored sentences that still fit.
    Without an embedder (not loaded) the score is the position prior alone: the lead first."""
    ranking = ranking or Ranking(position_weight=d.BUDGET_POSITION_WEIGHT)
    total = count(article)
    sentences = split_sentences(article)
    if total <= budget or len(sentences) <= 1:
        n = len(sentences)
        return Budgeted(article, "under_budget", total, n, 0)
    # Only the first sentences compete for the budget (a budget holds far fewer): this bounds
    # the embedding time of a very long article.
    pool = sentences[: d.BUDGET_MAX_SENTENCES]
    sizes = [count(s.text) for s in pool]
    if embed is not None:
        vectors = embed([s.text for s in pool])
        score = scores(vectors, list(range(len(pool))), ranking)
        applied: Applied = "ranked"
    else:
        score = 0.5 ** (np.arange(len(pool)) / ranking.half_life)
        applied = "lead"
    chosen = {0}
    used = sizes[0]
    for i in (int(i) for i in np.argsort(-score, kind="stable")):
        if i not in chosen and used + sizes[i] <= budget:
            chosen.add(i)
            used += sizes[i]
    while True:  # the joined text can tokenize a little longer than its sentences apart
        text = _join(article, [pool[i] for i in sorted(chosen)])
        if count(text) <= budget or len(chosen) == 1:
            break
        chosen.remove(min(chosen - {0}, key=lambda i: score[i]))
    return Budgeted(text, applied, total, len(chosen), len(sentences) - len(chosen))


def head(article: str, budget: int, count: CountTokens) -> Budgeted:
    """Plain head truncation at `budget` tokens (the comparison for `select`): the cut is
    made by the prompt's layout; this counts the sentences it keeps (any part of)."""
    total = count(article)
    sentences = split_sentences(article)
    if total <= budget:
        return Budgeted(article, "under_budget", total, len(sentences), 0)
    # The sentences that start before the cut: the first whose start is past it, by bisection.
    lo, hi = 0, len(sentences)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(article[: sentences[mid].start]) < budget:
            lo = mid + 1
        else:
            hi = mid
    return Budgeted(article, "head", total, lo, len(sentences) - lo)
