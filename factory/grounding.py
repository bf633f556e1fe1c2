"""Grounding: each claim of a summary linked to the article sentences that support it.

A claim is `unsupported` when no article sentence is similar enough to it (cosine similarity of
all-MiniLM-L6-v2 embeddings below `min_support`), or when it states a number or a proper name
that appears nowhere in the article. Small models invent exactly those: places, people,
figures, dates.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from factory.sentences import Sentence, split_sentences
from shared import defaults as d
from shared.schemas import Claim, ClaimKind, SourceSentence

# --- numbers -------------------------------------------------------------------

_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"(st|nd|rd|th)?(?:\s*(%|percent\b|per cent\b))?"
    r"(?:\s*(hundred|thousand|million|billion|trillion|bn|m|k)\b)?",
    re.IGNORECASE,
)
_SCALE = {
    "hundred": 10**2,
    "thousand": 10**3,
    "k": 10**3,
    "million": 10**6,
    "m": 10**6,
    "billion": 10**9,
    "bn": 10**9,
    "trillion": 10**12,
}
# Number words by kind; which kind may follow which is in _FOLLOWS.
_UNITS = "zero one two three four five six seven eight nine"
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_ORDINAL_UNITS = "first second third fourth fifth sixth seventh eighth ninth"
_ORDINAL_TEENS = (
    "tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
    "nineteenth"
)
_KINDS: dict[str, tuple[str, int]] = (
    {w: ("unit", i) for i, w in enumerate(_UNITS.split(" "))}
    | {w: ("teen", 10 + i) for i, w in enumerate(_TEENS.split(" "))}
    | {w: ("tens", 20 + 10 * i) for i, w in enumerate(_TENS.split(" "))}
    | {w[:-1] + "ieth": ("ordinal", 20 + 10 * i) for i, w in enumerate(_TENS.split(" "))}
    | {w: ("ordinal_unit", 1 + i) for i, w in enumerate(_ORDINAL_UNITS.split(" "))}
    | {w: ("ordinal", 10 + i) for i, w in enumerate(_ORDINAL_TEENS.split(" "))}
)
_KINDS |= {
    "hundred": ("hundred", 100),
    "hundredth": ("hundredth", 100),
    "thousand": ("scale", 10**3),
    "thousandth": ("scale_ordinal", 10**3),
    "million": ("scale", 10**6),
    "billion": ("scale", 10**9),
    "trillion": ("scale", 10**12),
    "dozen": ("dozen", 12),
}
_SMALL_KINDS = {"unit", "teen", "tens", "ordinal_unit", "ordinal"}
_FOLLOWS = {  # kind of the previous word -> kinds that may continue the same number
    "": set(_KINDS[w][0] for w in _KINDS),
    "unit": {"hundred", "hundredth", "scale", "scale_ordinal", "dozen"},
    "teen": {"hundred", "hundredth", "scale", "scale_ordinal"},
    "tens": {"unit", "ordinal_unit", "scale", "scale_ordinal"},
    "hundred": _SMALL_KINDS | {"scale", "scale_ordinal"},
    "scale": _SMALL_KINDS | {"hundred"},
}
# A lone "one", "first" or "second" is a pronoun, an adverb or a unit of time more often
# than a figure ("one of the", "first, ..."); inside a number ("twenty-first") it counts.
_AMBIGUOUS = {"one", "first", "second"}
_WORD = "|".join(sorted(_KINDS, key=len, reverse=True))
_NUMBER_WORDS = re.compile(rf"\b(?:{_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_WORD}))*\b", re.I)
_SCALE_WORD = "hundred|thousand|million|billion|trillion|dozen"
_WORD_IN_RUN = re.compile(rf"\b(?:{_WORD})\b", re.I)


@dataclass(frozen=True)
class Number:
    """A number as written (`shown`), its value, the unit of its last written digit
    (`step`: 0.1 million = 100000 for "2.5 million", 1 for "40%"), and whether it is a rank
    ("3rd", "third": not the same fact as "3")."""

    shown: str
    value: Decimal
    step: Decimal
    ordinal: bool = False


def _list_marker(text: str, m: re.Match[str]) -> bool:
    return (
        not m.group(2)
        and len(m.group(1)) <= 2
        and m.group(0) == m.group(1)
        and re.match(r"[.)](?:\s|$)", text[m.end() : m.end() + 2]) is not None
        and _after_boundary(text, m.start())
    )


def _after_boundary(text: str, at: int) -> bool:
    """`at` starts the text, a line, or a sentence ("... coverage? 4. Code")."""
    i = at
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    return i == 0 or text[i - 1] == "\n" or (i < at and text[i - 1] in ".!?:;")


def _word_numbers(text: str) -> list[Number]:
    """The numbers in a run of number words: "forty-two" is one, "the first two" is one
    (two), "two hundred and five thousand" is one."""
    out: list[Number] = []
    words = [(m.start(), m.end(), m.group(0).casefold()) for m in _WORD_IN_RUN.finditer(text)]
    i = 0
    while i < len(words):
        total = current = 0
        step, last, j = 1, "", i
        while j < len(words):
            kind, value = _KINDS[words[j][2]]
            if kind not in _FOLLOWS.get(last, set()):
                break
            if kind in ("hundred", "hundredth"):
                current, step = max(current, 1) * 100, 100 if kind == "hundred" else 1
            elif kind in ("scale", "scale_ordinal"):
                total, current = total + max(current, 1) * value, 0
                step = value if kind == "scale" else 1
            elif kind == "dozen":
                current, step = max(current, 1) * 12, 1
            else:
                current, step = current + value, 1
            last, j = kind, j + 1
        if not (j == i + 1 and words[i][2] in _AMBIGUOUS):
            shown = text[words[i][0] : words[j - 1][1]]
            rank = last in ("ordinal", "ordinal_unit", "hundredth", "scale_ordinal")
            out.append(Number(shown, Decimal(total + current), Decimal(step), rank))
        i = j
    return out


def numbers(text: str) -> list[Number]:
    """Numbers in `text`, digits or words, with their scale ("2.5 million" is 2500000).
    A list item's number ("2. The whales") is not one."""
    found = []
    for m in _NUMBER.finditer(text):
        whole, frac, rank, _, scale = m.groups()
        if _list_marker(text, m):
            continue
        try:
            value = Decimal(whole.replace(",", "") + ("." + frac if frac else ""))
        except InvalidOperation:
            continue
        step = Decimal(1).scaleb(-len(frac or ""))
        if scale:
            value, step = value * _SCALE[scale.lower()], step * _SCALE[scale.lower()]
        found.append(Number(m.group(0).strip(), value, step, bool(rank)))
    for m in _NUMBER_WORDS.finditer(text):
        shown = m.group(0)
        if re.search(r"\d\s*$", text[: m.start()]):  # "2.5 million": read with its digits
            shown = re.sub(rf"^(?:{_SCALE_WORD})\b[\s-]*", "", shown, flags=re.I)
        found += _word_numbers(shown)
    return found


def number_known(number: Number, article: list[Number]) -> bool:
    """The article states this number, exactly or as a more precise figure that rounds to
    it ("about 40%" for 39.6%, "2.5 million" for 2,460,000); a rank only as a rank."""
    return any(
        known.ordinal == number.ordinal
        and (
            known.value == number.value
            or (known.step <= number.step and abs(known.value - number.value) < number.step / 2)
        )
        for known in article
    )


# --- proper names ----------------------------------------------------------------

# Function words, and titles that come before a name rather than being one.
_TITLES = {"mr", "mrs", "ms", "dr", "prof", "sir", "st", "gen", "gov", "sen", "rep", "jr", "sr"}
_NOT_NAMES = STOP_WORDS | _TITLES
# Lower-case words that may join the capitalised words of one name: "Bank of England".
_CONNECTORS = {"of", "and", "for", "the", "de", "du", "la", "von", "van", "&"}
# A word: letters and digits with inner apostrophes, dots and hyphens. Han, kana and hangul
# are left out: those scripts have no capitals, and a name glued to them ("DeepMind新电脑")
# is still a word of its own.
_CHAR = r"[^\W_\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_TOKEN = re.compile(rf"{_CHAR}(?:{_CHAR}|['’.\-])*|&")
# What comes before a word that opens a sentence (or a heading, a list item, a title part).
_OPENS = re.compile(r"(?:^|[.!?:;|…]|\s[–—-]|\n)[\"'”’»)\]]*\s*[\"'“‘«(\[*•-]*\s*$")
_CONTRACTION = re.compile(r"(?:'s|'m|'re|'ve|'ll|'d|n't|')$")
# Endings that inflect one word or make a demonym of a name: "opens" and "opened",
# "Iran" and "Iranian", "China" and "Chinese", "Germany" and "German". Two words are one
# when they are equal once one of these is taken off each (leaving at least 4 letters).
_ENDINGS = "s es ies ed d ing er ers y ian ians an ans n ns ese ish i is a e ic ism ist ists al"


@lru_cache(maxsize=1 << 16)
def _fold(word: str) -> str:
    """Casefolded, without accents: "Zürich" and "Zurich" are one word."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def _norm(word: str) -> str:
    word = _CONTRACTION.sub("", _fold(word).replace("’", "'"))
    return word.replace(".", "").strip("-'")


def _stems(word: str) -> set[str]:
    return {word} | {
        word[: -len(e)] for e in _ENDINGS.split(" ") if word.endswith(e) and len(word) - len(e) >= 4
    }


def _function_word(word: str) -> bool:
    """ "The", "By", "I'm", "Mr"; not an acronym that spells one ("AT&T", "US", "WHO")."""
    if _acronym(word):
        return False
    return _fold(word).replace("’", "'") in _NOT_NAMES or _norm(word) in _NOT_NAMES


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


@lru_cache(maxsize=1 << 16)
def _acronym(token: str) -> bool:
    letters = [c for c in token if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _name_shaped(word: str) -> bool:
    """A word that reads as a name whatever its position: an acronym or inner capital
    ("FIFA", "U.S.", "FirstGroup"), or letters with digits or dots ("G40", "Phoronix.com")."""
    return any(c.isupper() for c in word[1:]) or any(c.isdigit() or c == "." for c in word)


@dataclass
class _Run:
    """Capitalised words in a row (with connectors between them), and the ones checked."""

    words: list[str]
    names: list[str]


def _initials(words: list[str]) -> set[str]:
    """ "Bank of England" as "be" and "boe"; "The United States" as "us"."""
    while words and _function_word(words[0]):
        words = words[1:]
    full = "".join(_fold(w)[0] for w in words if w[:1].isalpha())
    short = "".join(_fold(w)[0] for w in words if w[:1].isupper() and not _function_word(w))
    return {i for i in (full, short) if len(i) >= 2}


def _opens(text: str, previous: re.Match[str] | None, token: re.Match[str]) -> bool:
    """Whether `token` opens a sentence, a heading, a list item or a part of a title."""
    if previous is None:
        return True
    if not _OPENS.search(text, previous.start(), token.start()):
        return False
    # "Mr. Smith", "M. Kuhn", "the U.S. Army": a dot that ends an abbreviation, not a sentence.
    word = previous.group(0)
    between = text[previous.end() : token.start()]
    return not (
        word.endswith(".")
        and not between.strip()
        and (len(word) == 2 or "." in word[:-1] or _fold(word[:-1]) in _TITLES)
    )


def _segments(text: str) -> list[list[tuple[str, bool]]]:
    """The words of each sentence (heading, list item, part of a title), each with whether
    punctuation stands between it and the word before ("Paris, France")."""
    segments: list[list[tuple[str, bool]]] = []
    previous = None
    for m in _TOKEN.finditer(text):
        if _opens(text, previous, m):
            segments.append([])
        apart = previous is not None and bool(text[previous.end() : m.start()].strip())
        segments[-1].append((m.group(0).rstrip(".'’-") or m.group(0), apart))
        previous = m
    return segments


def _runs(text: str) -> list[_Run]:
    """Capitalised runs of `text` with their name candidates. Where capitals say nothing
    (a sentence's first word alone, a headline in Title Case) only name-shaped words count."""
    out: list[_Run] = []
    for segment in _segments(text):
        words = [w for w, _ in segment]
        content = [w for w in words if any(c.isalpha() for c in w) and not _function_word(w)]
        headline = len(words) >= 4 and len(content) >= 2 and all(map(_capitalised, content))
        run: list[str] = []
        opens = False
        for i, (word, apart) in enumerate([*segment, ("", True)]):
            if run and apart:
                out.append(_run(run, headline, opens))
                run = []
            if _capitalised(word) and any(c.isalpha() for c in word):
                if not run:
                    opens = i == 0
                run.append(word)
                continue
            following = segment[i + 1] if i + 1 < len(segment) else ("", True)
            joins = word.casefold() in _CONNECTORS and not following[1]
            if run and joins and _capitalised(following[0]):
                run.append(word)
                continue
            if run:
                out.append(_run(run, headline, opens))
                run = []
    return out


def _run(words: list[str], headline: bool, opens: bool) -> _Run:
    candidates = [w for w in words if _capitalised(w) and not _function_word(w)]
    # A sentence's first word is capitalised whatever it is; one after it ("The Brazil")
    # is not, and a run of two ("New York said") is a name anyway.
    first_opens = opens and bool(candidates) and candidates[0] == words[0]
    if headline or (first_opens and len(candidates) < 2):
        candidates = [w for w in candidates if _name_shaped(w)]
    return _Run(words, candidates)


def names(claim: str) -> list[str]:
    """Proper-name candidates, in order: capitalised words that do not open a sentence, and
    every word of a capitalised run of two or more ("New York said" at the start too),
    leaving out function words ("The", "By"). Where capitals carry no information (a
    sentence's first word alone, a headline in Title Case) only acronyms and words with an
    inner capital, a digit or a dot count ("NASA", "FirstGroup")."""
    return list(dict.fromkeys(w for run in _runs(claim) for w in run.names))


class Lexicon:
    """The article's words, casefolded and without accents, for a forgiving "does the
    article say this word": the same word once an inflection or demonym ending is taken off
    ("opens" and "opened", "Lindqvist's", "Iranian" and "Iran"); a short form of a name the
    article writes with a capital ("Brad" for "Bradley", "British" for "Britain"); a
    hyphenated word when every part is known. An acronym is known when the article writes
    it (in capitals, or as "Nasa") or spells out the words it stands for ("WHO" and "World
    Health Organization"), and the other way round ("United States" for "US")."""

    def __init__(self, text: str) -> None:
        tokens = [m.group(0) for m in _TOKEN.finditer(text)]
        words = {_norm(t) for t in tokens}
        for token in tokens:  # "Anglo-French" also as "anglo" and "french"
            words.update(_norm(p) for p in token.split("-"))
        words.discard("")
        self.words = words
        self.sorted_words = sorted(words)
        self.stems = {s for w in words for s in _stems(w)}
        self.acronyms = {_norm(t) for t in tokens if _acronym(t)}
        self.capitalised = {_norm(t) for t in tokens if _capitalised(t)}
        self.sorted_capitalised = sorted(self.capitalised)
        self.initials = {i for run in _runs(text) for i in _initials(run.words)}

    def knows(self, word: str) -> bool:
        parts = [p for p in word.split("-") if p]
        if len(parts) > 1 and all(self.knows(p) for p in parts):
            return True
        norm = _norm(word)
        if _acronym(word):  # not the pronoun "us" for "US"
            return norm in self.acronyms or norm in self.capitalised or norm in self.initials
        if not norm or norm in self.words or _stems(norm) & self.stems:
            return True
        # All but the last 3 letters (at least 4) begin a capitalised word of about that length.
        stem = norm[: max(4, len(norm) - 3)]
        return len(norm) >= 4 and any(
            abs(len(w) - len(norm)) <= 3 for w in _starting(self.sorted_capitalised, stem)
        )

    def begins(self, prefix: str) -> bool:
        """Some word of the article begins with `prefix` (a word cut short: "Silic...")."""
        return any(True for _ in _starting(self.sorted_words, _norm(prefix)))

    def unknown(self, text: str) -> list[str]:
        """The name candidates of `text` the article never states."""
        cut = _CUT.search(text)
        out: list[str] = []
        for run in _runs(text):
            if run.names and _initials(run.words) & self.acronyms:
                continue
            out += [
                w
                for w in run.names
                if not self.knows(w) and not (cut and w == cut.group(1) and self.begins(w))
            ]
        return list(dict.fromkeys(out))


# The last word of a text cut short by its publisher: "... on Google Pla..."
_CUT = re.compile(r"(\w+)(?:\.\.\.|…)\s*$")


def _starting(words: list[str], prefix: str) -> Iterator[str]:
    """The words of sorted `words` that begin with `prefix`."""
    at = bisect.bisect_left(words, prefix)
    while prefix and at < len(words) and words[at].startswith(prefix):
        yield words[at]
        at += 1


# --- claims and support ----------------------------------------------------------


@dataclass(frozen=True)
class ClaimSpec:
    kind: ClaimKind
    index: int
    text: str
    start: int | None = None
    end: int | None = None


def summary_claims(main_summary: str | None, key_points: list[str]) -> list[ClaimSpec]:
    """Every sentence of `main_summary`, then every key point, as claims to check; one
    without a letter or digit ("...", "-") states nothing and is left out (the others keep
    their numbers)."""
    claims = [
        ClaimSpec("main_summary", i, s.text, s.start, s.end)
        for i, s in enumerate(split_sentences(main_summary or ""))
    ]
    claims += [ClaimSpec("key_point", i, p.strip()) for i, p in enumerate(key_points)]
    return [c for c in claims if any(ch.isalnum() for ch in c.text)]


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
        unknown_names = lexicon.unknown(spec.text)
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
