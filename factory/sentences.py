"""Sentences with exact character offsets: `text[s.start:s.end] == s.text` for every one.

pySBD's rules find the boundaries (abbreviations, decimals, quotes); around it, line breaks are
boundaries (headings, list items) unless a paragraph is hard-wrapped, and a run of words with
no punctuation is cut into windows of at most `max_words` words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from shared import defaults as d

Segmenter = Callable[[str], list[str]]

_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*•·–—▪►‣◦]|\d{1,3}[.)]|[a-zA-Z][.)])\s")
_WORD = re.compile(r"\S+")
# A sentence closed inside quotes, then a new one: `...votes." “This` (pySBD keeps them as one).
_QUOTED_END = re.compile(r"[.!?…][\"”’»](?=\s+[\"“‘«]?[^\W\d_])")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _pysbd() -> Segmenter:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter.segment


def pysbd_segment(text: str) -> list[str]:
    """pySBD's English rules (they also split CJK, Cyrillic and most Latin-script text)."""
    return _pysbd()(text)


def _hard_wrapped(lines: list[str]) -> bool:
    """A paragraph typed with a fixed line width: every line but the last about as long."""
    if len(lines) < 3:
        return False
    widths = [len(line.rstrip()) for line in lines[:-1]]
    widest = max(widths)
    return 40 <= widest <= d.SENTENCES_WRAP_MAX_CHARS and min(widths) >= 0.6 * widest


def _unwrap(block: str) -> str:
    """Turn a hard-wrapped paragraph's line breaks into spaces (same length: offsets hold),
    except before list items."""
    lines = block.split("\n")
    if not _hard_wrapped(lines):
        return block
    out = [lines[0]]
    for line in lines[1:]:
        out.append(("\n" if _LIST_MARKER.match(line) else " ") + line)
    return "".join(out)


def _blocks(text: str) -> list[tuple[int, str]]:
    """Paragraphs (split on blank lines) with their offsets."""
    spans, at = [], 0
    for m in _PARAGRAPH.finditer(text):
        spans.append((at, text[at : m.start()]))
        at = m.end()
    spans.append((at, text[at:]))
    return [(start, block) for start, block in spans if block.strip()]


def _windows(start: int, piece: str, max_words: int) -> list[Sentence]:
    """Cut a run of more than `max_words` words into windows of that many words."""
    words = [m.span() for m in _WORD.finditer(piece)]
    out = []
    for i in range(0, len(words), max_words):
        a, b = words[i][0], words[min(i + max_words, len(words)) - 1][1]
        out.append(Sentence(start + a, start + b, piece[a:b]))
    return out


def split_sentences(
    text: str,
    *,
    max_chars: int | None = None,
    max_words: int = d.SENTENCE_MAX_WORDS,
    segment: Segmenter = pysbd_segment,
) -> list[Sentence]:
    """Sentences of `text[:max_chars]`, in order, stripped of surrounding whitespace."""
    if max_chars is not None:
        text = text[:max_chars]
    sentences: list[Sentence] = []
    for offset, block in _blocks(text):
        for line_start, line in _lines(_unwrap(block)):
            base = offset + line_start
            for a, b in _refine(line, _locate(line, segment(line) if line.strip() else [])):
                chunk = text[base + a : base + b]
                if len(chunk.split()) > max_words:
                    sentences.extend(_windows(base + a, chunk, max_words))
                else:
                    sentences.append(Sentence(base + a, base + b, chunk))
    return sentences


def _refine(line: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split spans after a quoted sentence end followed by a capitalised word."""
    out = []
    for a, b in spans:
        for m in _QUOTED_END.finditer(line, a, b):
            nxt = line[m.end() : b].lstrip()
            if nxt.lstrip('"“‘«')[:1].isupper():
                out.append((a, m.end()))
                a = b - len(nxt)
        out.append((a, b))
    return out


def _locate(line: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Spans of the segmenter's pieces in `line`, in order. Should a piece not be found
    verbatim (a segmenter that rewrites text), the rest of the line is one piece."""
    spans, at = [], 0
    for raw in pieces:
        piece = raw.strip()
        if not piece:
            continue
        found = line.find(piece, at)
        if found < 0:
            rest = line[at:]
            if rest.strip():
                lead = len(rest) - len(rest.lstrip())
                spans.append((at + lead, at + len(rest.rstrip())))
            return spans
        spans.append((found, found + len(piece)))
        at = found + len(piece)
    return spans


def _lines(block: str) -> list[tuple[int, str]]:
    """Lines of a (possibly unwrapped) paragraph: each line break left in it is a boundary."""
    out, at = [], 0
    for line in block.split("\n"):
        out.append((at, line))
        at += len(line) + 1
    return out


def labelled_text(case: dict[str, object]) -> tuple[str, list[tuple[int, int]]]:
    """A hand-labelled case (`sentences`, and `joiners` or the whole `text`) as text plus the
    gold spans. Used by the tests and bench/sentences.py."""
    gold: list[str] = case["sentences"]  # type: ignore[assignment]
    text = case.get("text")
    if not isinstance(text, str):
        joiners: list[str] = case.get("joiners") or [" "] * (len(gold) - 1)  # type: ignore[assignment]
        text = gold[0] + "".join(j + s for j, s in zip(joiners, gold[1:], strict=True))
    spans, at = [], 0
    for sentence in gold:
        start = text.index(sentence, at)
        at = start + len(sentence)
        spans.append((start, at))
    return text, spans


def boundary_scores(
    found: list[tuple[int, int]], gold: list[tuple[int, int]]
) -> tuple[int, int, int]:
    """(correct, found, gold) sentences: a sentence is correct when both its ends match."""
    return len(set(found) & set(gold)), len(found), len(gold)
