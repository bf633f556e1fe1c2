"""Scoring an extractor against Readability's output on ../shared/corpus (read in place).

A page is a folder with `source.html`, `expected.html` (Readability's article body) and
`expected-metadata.json`. The folders hold real articles and small pages Readability's authors
wrote to pin one behaviour each; a page is a fixture when its HTML, without inline `data:`
URLs, is under 10 KB (the fixtures are all under 4 KB, the smallest real article is 12 KB).
"""

from __future__ import annotations

import html
import json
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
FOLDERS = ("articles", "readability-pages")
FIXTURE_MAX_BYTES = 10_000
LEDE_MIN_WORDS = 8
LEDE_WITHIN_CHARS = 1_000
LEDE_PROBE_CHARS = 80  # the lede's first letters and digits that must appear
TITLE_CLOSE_F1 = 0.8
BODY_LOW_F1 = 0.5

_DATA_URL = re.compile(rb"data:[^\"')\s]+")
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|dl|dt|dd|tr|td|th|table|br|hr|blockquote|pre|figure|"
    r"figcaption|section|article|header|footer|img)\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"<[^>]+>")
_PARAGRAPH = re.compile(r"<p\b[^>]*>(.*?)</p>", re.S | re.I)
# CJK characters count one token each (those scripts put no spaces between words).
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"'})
_QUOTES.update(str.maketrans({"»": '"', "`": "'", "´": "'"}))


@dataclass
class Reference:
    name: str  # folder/page
    source: bytes
    fixture: bool
    title: str
    byline: str | None
    published: str | None
    text: str  # expected.html as text
    lede: str | None  # its first <p> of at least LEDE_MIN_WORDS words


@dataclass
class Found:
    title: str | None
    text: str
    byline: str | None
    date: str | None


@dataclass
class Score:
    title_exact: bool | None  # None: no reference value to score against
    title_close: bool | None
    lede: bool | None
    body_f1: float
    byline: bool | None
    date: bool | None


def html_text(fragment: str) -> str:
    """Text of an HTML fragment: block tags are spaces, inline tags nothing."""
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", fragment)))


def is_fixture(source: bytes) -> bool:
    return len(_DATA_URL.sub(b"", source)) < FIXTURE_MAX_BYTES


def _lede(expected_html: str) -> str | None:
    for para in _PARAGRAPH.findall(expected_html):
        text = " ".join(html_text(para).split())
        if len(text.split()) >= LEDE_MIN_WORDS:
            return text
    return None


def references(corpus: Path = CORPUS) -> list[Reference]:
    out = []
    for folder in FOLDERS:
        for page in sorted((corpus / folder).iterdir()):
            if not (page / "source.html").is_file():
                continue
            source = (page / "source.html").read_bytes()
            meta = json.loads((page / "expected-metadata.json").read_text())
            expected = (page / "expected.html").read_text()
            out.append(
                Reference(
                    name=f"{folder}/{page.name}",
                    source=source,
                    fixture=is_fixture(source),
                    title=meta.get("title") or "",
                    byline=meta.get("byline") or None,
                    published=meta.get("publishedTime") or None,
                    text=html_text(expected),
                    lede=_lede(expected),
                )
            )
    return out


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def bag_f1(found: Iterable[str], expected: Iterable[str]) -> float:
    a, b = Counter(found), Counter(expected)
    common = sum((a & b).values())
    if not a and not b:
        return 1.0
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def normal_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", html.unescape(title)).translate(_QUOTES)
    return " ".join(text.casefold().split())


def _letters(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def lede_found(lede: str, text: str) -> bool:
    return _letters(lede)[:LEDE_PROBE_CHARS] in _letters(text[:LEDE_WITHIN_CHARS])


def _name_tokens(byline: str) -> set[str]:
    return set(tokens(byline)) - {"by"}


def byline_matches(found: str | None, expected: str) -> bool:
    """The found byline's name words all in the reference's, or the other way round
    (Readability's bylines carry dates or 'By' at times)."""
    a, b = _name_tokens(found or ""), _name_tokens(expected)
    return bool(a) and bool(b) and (a <= b or b <= a)


def _instant(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def date_matches(found: str | None, expected: str) -> bool:
    """The same calendar day as written, or the same instant in another time zone."""
    if not found:
        return False
    if str(found)[:10] == expected[:10]:
        return True
    a, b = _instant(str(found)), _instant(expected)
    return a is not None and a == b


def score(ref: Reference, found: Found) -> Score:
    title = found.title or ""
    has_title = bool(ref.title.strip())
    return Score(
        title_exact=normal_title(title) == normal_title(ref.title) if has_title else None,
        title_close=bag_f1(tokens(title), tokens(ref.title)) >= TITLE_CLOSE_F1
        if has_title
        else None,
        lede=lede_found(ref.lede, found.text) if ref.lede else None,
        body_f1=bag_f1(tokens(found.text), tokens(ref.text)),
        byline=byline_matches(found.byline, ref.byline) if ref.byline else None,
        date=date_matches(found.date, ref.published) if ref.published else None,
    )


@dataclass
class Summary:
    pages: int
    title_exact: float
    title_close: float
    lede: float
    body_mean: float
    body_median: float
    body_low: int  # pages under BODY_LOW_F1
    byline: float
    date: float


def share(values: Iterable[bool | None]) -> float:
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else float("nan")


def summarize(scores: list[Score]) -> Summary:
    bodies = [s.body_f1 for s in scores]
    return Summary(
        pages=len(scores),
        title_exact=share(s.title_exact for s in scores),
        title_close=share(s.title_close for s in scores),
        lede=share(s.lede for s in scores),
        body_mean=statistics.fmean(bodies),
        body_median=statistics.median(bodies),
        body_low=sum(f < BODY_LOW_F1 for f in bodies),
        byline=share(s.byline for s in scores),
        date=share(s.date for s in scores),
    )


def misses(ref: Reference, score: Score, found: Found) -> list[str]:
    """What `found` got wrong on `ref`'s page, a line each (a body F1 under 0.9 included)."""
    out = []
    if score.title_exact is False:
        out.append(f"{ref.name}: title {found.title!r}, expected {ref.title!r}")
    if score.lede is False:
        out.append(f"{ref.name}: lede missing: {(ref.lede or '')[:60]!r}")
    if score.body_f1 < 0.9:
        out.append(f"{ref.name}: body F1 {score.body_f1:.3f}")
    if score.byline is False:
        out.append(f"{ref.name}: byline {found.byline!r}, expected {ref.byline!r}")
    if score.date is False:
        out.append(f"{ref.name}: date {found.date!r}, expected {ref.published!r}")
    return out
