"""The real articles of ../shared/corpus, read in place (never copied): text and reference.

The text is what the gateway extracts from the page; the reference summary is the page's own
meta description (`og:description`, `description`, `twitter:description`), as the corpus
README says. Readability's 30 small single-behaviour pages are left out.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.scrape import Fetched, extract

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus")
MIN_PAGE_BYTES = 10_000  # the single-behaviour test pages are all under 4 KB
_META = re.compile(rb"<meta\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_KEYS = (b"og:description", b"description", b"twitter:description")


@dataclass
class Page:
    name: str
    text: str
    reference: str | None


def meta_description(source: bytes) -> str | None:
    found: dict[bytes, str] = {}
    for tag in _META.findall(source):
        attrs = {k.lower(): v.strip(b"\"'") for k, v in _ATTR.findall(tag)}
        key = (attrs.get(b"property") or attrs.get(b"name") or b"").lower()
        if key in _KEYS and attrs.get(b"content", b"").strip():
            found.setdefault(key, html.unescape(attrs[b"content"].decode("utf-8", "replace")))
    return next((found[k].strip() for k in _KEYS if k in found), None)


def pages() -> list[Page]:
    """Every real article page with its extracted text (pages without text are skipped)."""
    if not CORPUS.is_dir():
        raise SystemExit(f"corpus not found at {CORPUS}")
    out = []
    for folder in ("articles", "readability-pages"):
        for page in sorted((CORPUS / folder).iterdir()):
            source = page / "source.html"
            if not source.is_file() or source.stat().st_size < MIN_PAGE_BYTES:
                continue
            body = source.read_bytes()
            article = extract(Fetched(f"http://corpus.test/{page.name}", "text/html", None, body))
            if article.text.strip():
                out.append(Page(f"{folder}/{page.name}", article.text, meta_description(body)))
    return out
