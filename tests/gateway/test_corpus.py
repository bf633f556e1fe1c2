"""Extraction quality over the team's corpus of real pages (../shared/corpus), served locally.

Reports how many titles match Readability's and how many extracted texts hold the article's
first paragraph; the target is at least 90% for each.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from gateway.scrape import Scraper
from shared.settings import ScrapeSettings
from tests.servers import serve

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "articles"
TARGET = 0.9
pytestmark = pytest.mark.anyio


def norm(text: str) -> str:
    """Letters and digits only: markup, spacing and punctuation styles differ between tools."""
    text = unicodedata.normalize("NFKC", html.unescape(text)).lower()
    return "".join(ch for ch in text if ch.isalnum())


def first_paragraph(expected_html: str) -> str:
    for para in re.findall(r"<p[^>]*>(.*?)</p>", expected_html, re.S | re.I):
        text = re.sub(r"<[^>]+>", "", para)
        if len(text.split()) >= 8:
            return norm(text)
    return ""


_SITE_SEPARATOR = re.compile(r"\s+[|·•–—\-»]\s+")


def without_site_name(title: str) -> str:
    """'Headline - The Verge' -> 'Headline': the longest part between separators."""
    return max(_SITE_SEPARATOR.split(title), key=lambda part: len(part.split()))


def title_matches(found: str | None, expected: str) -> bool:
    if not found:
        return False
    a, b = norm(without_site_name(found)), norm(without_site_name(expected))
    return bool(a) and (a == b or a in b or b in a)


@pytest.fixture(scope="module")
def corpus_url() -> Iterator[str]:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}: the team's shared/ folder is not beside this checkout")
    app = Starlette()
    app.mount("/", StaticFiles(directory=CORPUS))
    with serve(app) as base:
        yield base


async def test_corpus_titles_and_first_paragraphs(corpus_url: str) -> None:
    pages = sorted(p for p in CORPUS.iterdir() if (p / "source.html").is_file())
    loopback = [ip_network("127.0.0.1/32")]
    settings = ScrapeSettings(_env_file=None, allowed_networks=loopback)  # type: ignore[call-arg]
    titles = paragraphs = 0
    misses: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        scraper = Scraper(settings, client)
        for page in pages:
            expected = json.loads((page / "expected-metadata.json").read_text())
            first = first_paragraph((page / "expected.html").read_text())
            try:
                article = await scraper.scrape(f"{corpus_url}/{page.name}/source.html", "test")
            except Exception as exc:
                misses.append(f"{page.name}: {exc}")
                continue
            if title_matches(article.title, expected.get("title") or ""):
                titles += 1
            else:
                misses.append(
                    f"{page.name}: title {article.title!r}, expected {expected['title']!r}"
                )
            if first and first[:100] in norm(article.text):
                paragraphs += 1
            else:
                misses.append(f"{page.name}: first paragraph missing")
    n = len(pages)
    print(f"\ncorpus: {n} pages; titles {titles}/{n}; first paragraphs {paragraphs}/{n}")
    print("\n".join(misses))
    assert n >= 20
    assert titles / n >= TARGET, misses
    assert paragraphs / n >= TARGET, misses
