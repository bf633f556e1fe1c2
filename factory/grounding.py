"""Grounding: each claim of a summary linked to the article sentences that support it.

A claim is `unsupported` when no article sentence is similar enough to it (cosine similarity of
all-MiniLM-L6-v2 embeddings below `min_support`), or when it states a number or a proper name
that appears nowhere in the article. Small models invent exactly those: places, people,
figures, dates.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from factory.sentences import Sentence, split_sentences
from shared import defaults as d
from shared.schemas import Claim, ClaimKind, SourceSentence

# --- numbers -------------------------------------------------------------------

_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"(?:st|nd|rd|th)?(?:\s*(%|percent\b|per cent\b))?"
    r"(?:\s*(thousand|million|billion|trillion|bn|m|k)\b)?",
    re.IGNORECASE,
)
_SCALE = {
    "thousand": 10**3,
    "k": 10**3,
    "million": 10**6,
    "m": 10**6,
    "billion": 10**9,
    "bn": 10**9,
    "trillion": 10**12,
}
_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {w: i for i, w in enumerate(_SMALL.split(" "))} | {
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "dozen": 12,
}  # fmt: skip
_NUMBER_WORD = re.compile(
    r"\b(" + "|".join(_NUMBER_WORDS) + r")\b(?:\s+(thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Number:
    """A number as written (`shown`), its value, and the unit of its last written digit
    (`step`: 0.1 million = 100000 for "2.5 million", 1 for "40%")."""

    shown: str
    value: Decimal
    step: Decimal


def numbers(text: str) -> list[Number]:
    """Numbers in `text`, digits or words, with their scale ("2.5 million" is 2500000)."""
    found = []
    for m in _NUMBER.finditer(text):
        whole, frac, _, scale = m.groups()
        try:
            value = Decimal(whole.replace(",", "") + ("." + frac if frac else ""))
        except InvalidOperation:
            continue
        step = Decimal(1).scaleb(-len(frac or ""))
        if scale:
            value, step = value * _SCALE[scale.lower()], step * _SCALE[scale.lower()]
        found.append(Number(m.group(0).strip(), value, step))
    for m in _NUMBER_WORD.finditer(text):
        word, scale = m.groups()
        value, step = Decimal(_NUMBER_WORDS[word.lower()]), Decimal(1)
        if scale:
            value, step = value * _SCALE[scale.lower()], step * _SCALE[scale.lower()]
        found.append(Number(m.group(0), value, step))
    return found


def number_known(number: Number, article: list[Number]) -> bool:
    """The article states this number, exactly or as a more precise figure that rounds to
    it ("about 40%" for 39.6%, "2.5 million" for 2,460,000)."""
    return any(
        known.value == number.value
        or (known.step <= number.step and abs(known.value - number.value) < number.step / 2)
        for known in article
    )


# --- proper names ----------------------------------------------------------------

# Function words, and titles that come before a name rather than being one.
_NOT_NAMES = STOP_WORDS | {"mr", "mrs", "ms", "dr", "prof", "sir", "st", "gen", "gov", "sen"}
_TOKEN = re.compile(r"[^\W_][\w'’.\-]*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def _norm(word: str) -> str:
    word = word.casefold().replace("’", "'")
    for suffix in ("'s", "'"):
        if word.endswith(suffix):
            word = word[: -len(suffix)]
    return word.replace(".", "").strip("-'")


class Lexicon:
    """The article's words, casefolded, for a forgiving "does the article say this word":
    an exact match, or a shared stem (at least 4 letters, all but the last 3: "opens" and
    "opened", "Lindqvist" and "Lindqvist's")."""

    def __init__(self, text: str) -> None:
        words = {_norm(m.group(0)) for m in _TOKEN.finditer(text)}
        for m in _TOKEN.finditer(text):  # "Anglo-French" also as "anglo" and "french"
            words.update(_norm(p) for p in m.group(0).split("-"))
        self.words = sorted(w for w in words if w)
        self._set = set(self.words)

    def knows(self, word: str) -> bool:
        word = _norm(word)
        if not word or word in self._set:
            return True
        stem = word[: max(4, len(word) - 3)]
        at = bisect.bisect_left(self.words, stem)
        while at < len(self.words) and self.words[at].startswith(stem):
            if abs(len(self.words[at]) - len(word)) <= 3:
                return True
            at += 1
        return False


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def names(claim: str) -> list[str]:
    """Proper-name candidates, in order: capitalised words that do not open a sentence, and
    every word of a capitalised run of two or more ("New York said" at the start too, and a
    claim in Title Case), leaving out function words ("The", "By")."""
    out: list[str] = []
    run: list[tuple[str, bool]] = []

    def flush() -> None:
        if len(run) >= 2:
            out.extend(word for word, _ in run)
        elif run and not run[0][1]:
            out.append(run[0][0])
        run.clear()

    opening = True
    for m in _TOKEN.finditer(claim):
        word = m.group(0).rstrip(".'’-")
        if _capitalised(word) and any(c.isalpha() for c in word):
            run.append((word, opening))
        else:
            flush()
        opening = bool(_SENTENCE_END.search(claim[: m.end()]))
    flush()
    return list(dict.fromkeys(w for w in out if _norm(w) not in _NOT_NAMES))


# --- claims and support ----------------------------------------------------------


@dataclass(frozen=True)
class ClaimSpec:
    kind: ClaimKind
    index: int
    text: str
    start: int | None = None
    end: int | None = None


def summary_claims(main_summary: str | None, key_points: list[str]) -> list[ClaimSpec]:
    """Every sentence of `main_summary`, then every key point, as claims to check."""
    claims = [
        ClaimSpec("main_summary", i, s.text, s.start, s.end)
        for i, s in enumerate(split_sentences(main_summary or ""))
    ]
    claims += [ClaimSpec("key_point", i, p.strip()) for i, p in enumerate(key_points) if p.strip()]
    return claims


@dataclass(frozen=True)
class Grounding:
    min_support: float = d.GROUNDING_MIN_SUPPORT
    sources: int = d.PROVENANCE_DEFAULT_SOURCES
    source_floor: float = d.PROVENANCE_SOURCE_FLOOR


def ground(
    article: str,
    sentences: list[Sentence],
    sentence_vectors: np.ndarray,
    claims: list[ClaimSpec],
    claim_vectors: np.ndarray,
    grounding: Grounding | None = None,
) -> list[Claim]:
    """Link each claim to its most similar article sentences and flag what the article does
    not support. Vectors are unit rows (one per sentence, one per claim)."""
    grounding = grounding or Grounding()
    lexicon = Lexicon(article)
    stated = numbers(article)
    sim = (
        claim_vectors @ sentence_vectors.T
        if len(sentences) and len(claims)
        else np.zeros((len(claims), len(sentences)))
    )
    out = []
    for row, spec in zip(sim, claims, strict=True):
        order = [int(i) for i in np.argsort(-row, kind="stable")[: grounding.sources]]
        support = max(0.0, float(row[order[0]])) if order else 0.0
        sources = [
            SourceSentence(
                text=sentences[i].text,
                start=sentences[i].start,
                end=sentences[i].end,
                similarity=round(float(row[i]), 4),
            )
            for rank, i in enumerate(order)
            if rank == 0 or row[i] >= grounding.source_floor
        ]
        unknown_numbers = [n.shown for n in numbers(spec.text) if not number_known(n, stated)]
        unknown_names = [w for w in names(spec.text) if not lexicon.knows(w)]
        reasons = []
        if support < grounding.min_support:
            reasons.append("low_support")
        if unknown_numbers:
            reasons.append("unknown_number")
        if unknown_names:
            reasons.append("unknown_name")
        out.append(
            Claim(
                kind=spec.kind,
                index=spec.index,
                text=spec.text,
                start=spec.start,
                end=spec.end,
                support=round(min(support, 1.0), 4),
                unsupported=bool(reasons),
                reasons=reasons,
                unknown_numbers=list(dict.fromkeys(unknown_numbers)),
                unknown_names=unknown_names,
                sources=sources,
            )
        )
    return out
