"""The extractors the gateway is measured against, each as `page bytes, url -> Found`.

The baselines come from the `bench` extra (never the gateway's image); one that is not
installed is reported as missing rather than failing the run.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable
from typing import Any

from bench.extract_score import Found
from gateway.scrape import Fetched, extract

Extractor = Callable[[bytes, str], Found]


def _text_of(fragment: str) -> str:
    import lxml.html

    if not fragment.strip():
        return ""
    root = lxml.html.fromstring(fragment)
    for block in root.iter("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "td"):
        block.tail = "\n" + (block.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _decoded(body: bytes) -> str:
    from trafilatura.utils import decode_file

    return str(decode_file(body))


def gateway(body: bytes, url: str) -> Found:
    article = extract(Fetched(url, "text/html", None, body))
    return Found(article.title, article.text, article.byline, article.date)


def _trafilatura(favor_recall: bool) -> Extractor:
    def run(body: bytes, url: str) -> Found:
        import trafilatura

        doc = trafilatura.bare_extraction(
            body, url=url, with_metadata=True, favor_recall=favor_recall
        )
        if doc is None:
            return Found(None, "", None, None)
        assert not isinstance(doc, dict)  # as_dict is off: a Document
        return Found(doc.title, doc.text or "", doc.author, doc.date)

    return run


def readability_lxml(body: bytes, url: str) -> Found:
    from readability import Document

    doc = Document(body, url=url)
    return Found(doc.title(), _text_of(doc.summary(html_partial=True)), doc.author(), None)


def newspaper4k(body: bytes, url: str) -> Found:
    import newspaper

    article = newspaper.Article(url, fetch_images=False)
    article.download(input_html=_decoded(body))
    article.parse()
    published = article.publish_date.isoformat() if article.publish_date else None
    return Found(article.title, article.text, ", ".join(article.authors) or None, published)


@functools.cache
def _goose() -> Any:
    from goose3 import Goose

    return Goose({"enable_image_fetching": False})


def goose3(body: bytes, url: str) -> Found:
    article = _goose().extract(url=url, raw_html=_decoded(body))
    published = article.publish_date
    return Found(article.title, article.cleaned_text, ", ".join(article.authors) or None, published)


# name: (extractor, distribution it needs)
SYSTEMS: dict[str, tuple[Extractor, str | None]] = {
    "gateway": (gateway, None),
    "trafilatura": (_trafilatura(False), "trafilatura"),
    "trafilatura favor_recall": (_trafilatura(True), "trafilatura"),
    "readability-lxml": (readability_lxml, "readability-lxml"),
    "newspaper4k": (newspaper4k, "newspaper4k"),
    "goose3": (goose3, "goose3"),
}


def version(distribution: str | None) -> str | None:
    """The installed version, None when missing (the gateway itself: 'this checkout')."""
    if distribution is None:
        return "this checkout"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def quiet() -> None:
    for name in ("trafilatura", "readability", "newspaper", "goose3", "htmldate"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
