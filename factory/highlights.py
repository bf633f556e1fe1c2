"""Extractive highlights: the sentences most central to the article, with a lead bias.

Centrality is each sentence's cosine similarity to the document's centroid ("centroid") or its
LexRank score over the sentence-similarity graph ("lexrank"), scaled to 0-1 over the candidates;
the score blends it with a position prior that halves every `half_life` sentences. With a
strong prior only the lead can reach the top k, so only the sentences that could (`reach()`)
and `HIGHLIGHTS_CONTEXT_SENTENCES` more are embedded, and make the centroid.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np

from factory.sentences import Sentence, split_sentences
from shared import defaults as d
from shared.http_errors import ApiError

Method = Literal["centroid", "lexrank"]


@dataclass(frozen=True)
class Ranking:
    method: Method = "centroid"
    position_weight: float = d.HIGHLIGHTS_POSITION_WEIGHT
    half_life: float = d.HIGHLIGHTS_POSITION_HALF_LIFE_SENTENCES
    duplicate_similarity: float = d.HIGHLIGHTS_DUPLICATE_SIMILARITY


def check_is_text(text: str) -> None:
    """422 for binary junk: control characters, or too few letters and digits."""
    visible = [c for c in text if not c.isspace()]
    controls = sum(1 for c in visible if unicodedata.category(c) in ("Cc", "Cs", "Co"))
    words = sum(1 for c in visible if c.isalnum())
    if controls or "\ufffd" in text or words < d.HIGHLIGHTS_MIN_WORD_SHARE * len(visible):
        raise ApiError(
            422,
            "not_text",
            f"the text does not look like prose: {controls} control characters, "
            f"{words} letters or digits in {len(visible)} visible characters",
        )


def candidate_sentences(
    text: str, max_chars: int, max_sentences: int
) -> tuple[list[Sentence], bool]:
    """The sentences considered (the first `max_sentences` of the first `max_chars`
    characters) and whether the text was longer than that."""
    found = split_sentences(text, max_chars=max_chars)
    truncated = len(text.rstrip()) > max_chars or len(found) > max_sentences
    return found[:max_sentences], truncated


def _lexrank(sim: np.ndarray, damping: float = 0.85, steps: int = 50) -> np.ndarray:
    graph = np.clip(sim, 0.0, None)
    np.fill_diagonal(graph, 0.0)
    totals = graph.sum(axis=1, keepdims=True)
    n = len(sim)
    walk = np.where(totals > 0, graph / np.maximum(totals, 1e-12), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(steps):
        rank = (1 - damping) / n + damping * walk.T @ rank
    return rank


def _scaled(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 1e-9 else np.ones_like(values)


def scores(vectors: np.ndarray, positions: list[int], ranking: Ranking) -> np.ndarray:
    """One score per sentence (rows of unit `vectors`, at sentence index `positions`)."""
    if ranking.method == "lexrank":
        centrality = _lexrank(vectors @ vectors.T)
    else:
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        centrality = vectors @ centroid
    prior = 0.5 ** (np.asarray(positions, dtype=np.float64) / ranking.half_life)
    w = ranking.position_weight
    return (1 - w) * _scaled(centrality) + w * prior


def pick(vectors: np.ndarray, score: np.ndarray, k: int, duplicate_similarity: float) -> list[int]:
    """The `k` best rows, skipping near-duplicates of rows already picked (unless nothing
    else is left)."""
    order = [int(i) for i in np.argsort(-score, kind="stable")]
    chosen: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(chosen) == k:
            break
        if chosen and float((vectors[chosen] @ vectors[i]).max()) >= duplicate_similarity:
            skipped.append(i)
            continue
        chosen.append(i)
    return chosen + skipped[: k - len(chosen)]


def reach(positions: list[int], k: int, ranking: Ranking) -> int:
    """How many of the offered sentences (at sentence index `positions`) can make the top
    `k`: past the last one a sentence's prior is so far below the k-th sentence's that no
    centrality (at most 1) makes up for it. Plus `k` more, for near-duplicates skipped."""
    w = ranking.position_weight
    if w <= 0 or len(positions) <= k:
        return len(positions)
    floor = 0.5 ** (positions[k - 1] / ranking.half_life) - (1 - w) / w
    if floor <= 0:
        return len(positions)
    last = ranking.half_life * math.log2(1 / floor)  # prior(p) > floor  <=>  p < last
    within = sum(1 for p in positions if p < last)
    return min(len(positions), within + k)


def highlight_indices(
    sentences: list[Sentence],
    embed: object,
    k: int,
    ranking: Ranking | None = None,
) -> list[tuple[int, float]]:
    """(sentence index, score) of the best `k` sentences, best first. `embed` maps a list of
    strings to unit vectors. Sentences under HIGHLIGHT_MIN_WORDS words are offered only when
    no longer one exists."""
    ranking = ranking or Ranking()
    if not sentences:
        return []
    offered = [i for i, s in enumerate(sentences) if len(s.text.split()) >= d.HIGHLIGHT_MIN_WORDS]
    offered = offered or list(range(len(sentences)))
    # Only these are embedded: the sentences that can make the top k, and a few more so the
    # centroid sees more of the article than its lead.
    offered = offered[: reach(offered, k, ranking) + d.HIGHLIGHTS_CONTEXT_SENTENCES]
    vectors = embed([sentences[i].text for i in offered])  # type: ignore[operator]
    score = scores(vectors, offered, ranking)
    picked = pick(vectors, score, k, ranking.duplicate_similarity)
    return [(offered[i], round(float(score[i]), 4)) for i in picked]
