"""Article text and metadata from an HTML page.

Mozilla Readability's algorithm (go-readability, through pygoreadability) picks the article's
content, title, byline, date and site name; trafilatura stands in when Readability finds no
text. The page is first decoded (decoding.py) and parsed once with lxml, within bounds
(page.py); pages that are not articles are refused (judge.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import html_text
import lxml.html

from gateway.extraction import judge
from gateway.extraction.decoding import decode_html
from gateway.extraction.page import PageTooComplex, parse
from gateway.extraction.words import count_words

__all__ = ["Extracted", "NotAnArticle", "PageTooComplex", "count_words", "extract_html"]

FALLBACK_BELOW_WORDS = 25  # Readability's text this short: trafilatura's is tried as well
HEADLINE_WITHIN_LINES = 6
BREADCRUMB_MAX_WORDS = 5
_BY = re.compile(r"^\s*by\s+", re.I)


class NotAnArticle(Exception):
    """A section front, a search page, a login wall, a picture or video without text."""


@dataclass
class Extracted:
    title: str | None
    text: str
    byline: str | None
    date: str | None
    site_name: str | None
    language: str | None


def _text(content_html: str) -> tuple[str, lxml.html.HtmlElement | None]:
    """Plain text, a blank line between paragraphs, a line per list item and caption."""
    if not content_html.strip():
        return "", None
    content = lxml.html.fragment_fromstring(content_html, create_parent="div")
    return html_text.extract_text(content, guess_layout=True), content


def _below_headline(text: str, title: str | None) -> str:
    """The text without a headline repeating `title` near its top, nor the breadcrumbs
    above that headline."""
    lines = text.strip().split("\n")
    for i, line in enumerate(lines[:HEADLINE_WITHIN_LINES]):
        if title and " ".join(line.split()) == title:
            above = [x for x in lines[:i] if x.strip()]
            if all(len(x.split()) <= BREADCRUMB_MAX_WORDS for x in above):
                return "\n".join(lines[i + 1 :]).strip()
    return "\n".join(lines).strip()


def _without_byline(text: str, byline: str | None) -> str:
    """The text without a first line that is only the byline ("By A. Writer")."""
    head, _, rest = text.partition("\n")
    if byline and _byline(head) == byline:
        return rest.strip()
    return text


def _byline(byline: str) -> str | None:
    """One line, without a leading "By"; Readability's length limit for a byline."""
    line = _BY.sub("", " ".join(byline.split()))
    return line if 0 < len(line) < 100 else None


def _trafilatura(text: str, url: str) -> tuple[str, str | None]:
    import trafilatura

    doc = trafilatura.bare_extraction(
        text, url=url, with_metadata=True, favor_recall=True, deduplicate=False
    )
    if doc is None:
        return "", None
    meta = doc if isinstance(doc, dict) else doc.as_dict()
    return meta.get("text") or "", meta.get("date")


def _date(page: lxml.html.HtmlElement) -> str | None:
    """The publication date shown on a page whose metadata has none (htmldate)."""
    import htmldate

    try:
        return htmldate.find_date(page, extensive_search=False, original_date=True)
    except ValueError:
        return None


def extract_html(body: bytes, charset: str | None, url: str) -> Extracted:
    """Raises NotAnArticle or PageTooComplex for a page it will not read."""
    # Imported when first needed: it starts the Go runtime in the process.
    from pygoreadability import ReadabilityArticle, from_string

    source = decode_html(body, charset)
    page = parse(source)
    if page is None:
        return Extracted(None, "", None, None, None, None)
    try:
        found = from_string(source, url=url)
    except RuntimeError:  # go-readability's own error: read as a page with nothing found
        found = ReadabilityArticle(**{f.name: "" for f in fields(ReadabilityArticle)})
    text, content = _text(found.content_html)
    date = found.published_time or None
    if count_words(text) < FALLBACK_BELOW_WORDS:
        other, other_date = _trafilatura(source, url)
        if count_words(other) > count_words(text):
            text, content, date = other, None, date or other_date
    reason = judge.refusal(page, content, count_words(text))
    if reason:
        raise NotAnArticle(reason)
    title = " ".join(found.title.split()) or None
    byline = _byline(found.byline)
    return Extracted(
        title=title,
        text=_without_byline(_below_headline(text, title), byline),
        byline=byline,
        date=date or _date(page),
        site_name=found.site_name or None,
        language=found.language or page.get("lang") or None,
    )
