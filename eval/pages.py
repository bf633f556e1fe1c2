"""The pages the eval summarises: the real corpus pages (text as the gateway extracts it, the
publisher's meta description as the reference summary, the page title as the reference
title), or the project's own fixture articles when ../shared/corpus is absent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import CORPUS, MIN_PAGE_BYTES, meta_description, pages

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "articles"
FIXTURE_PREFIX = "fixtures/"
# The default page set: every English page with a meta description whose text is a news-length
# article that fits the context window whole (the full arm then reads all of it): 29 pages.
# With the bundled SmolLM2 on 2 idle cores the set takes about 16.5 minutes (150-2,000 words,
# 32 pages, took 19.3: too close to the 20-minute bound for a slower machine).
DEFAULT_MIN_WORDS = 150
DEFAULT_MAX_WORDS = 1500


@dataclass(frozen=True)
class EvalPage:
    name: str
    text: str
    reference: str | None  # the publisher's meta description
    title: str | None  # the page title
    lang: str | None = None

    @property
    def words(self) -> int:
        return len(self.text.split())


def _metadata(folder: Path) -> dict[str, object]:
    path = folder / "expected-metadata.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _corpus_page(name: str, text: str, reference: str | None) -> EvalPage:
    meta = _metadata(CORPUS / name)
    return EvalPage(name, text, reference, _text(meta.get("title")), _text(meta.get("lang")))


def _fixture(name: str) -> EvalPage:
    """A fixture article: its first line is the title; it has no publisher's description."""
    path = FIXTURES / f"{name.removeprefix(FIXTURE_PREFIX)}.txt"
    if not path.is_file():
        raise LookupError(f"no fixture article {path.name} in {FIXTURES}")
    title, _, body = path.read_text().strip().partition("\n")
    return EvalPage(name, body.strip(), None, title.strip(), "en")


def fixture_names() -> list[str]:
    return [f"{FIXTURE_PREFIX}{p.stem}" for p in sorted(FIXTURES.glob("*.txt"))]


def load(name: str) -> EvalPage:
    """One page by name: `articles/bbc-1`, `readability-pages/<name>` or `fixtures/chips`."""
    if name.startswith(FIXTURE_PREFIX):
        return _fixture(name)
    from gateway.scrape import Fetched, extract

    folder = CORPUS / name
    source = folder / "source.html"
    if not CORPUS.is_dir():
        raise LookupError(f"the corpus is absent ({CORPUS}); fixture pages: {fixture_names()}")
    if ".." in Path(name).parts or not source.is_file():
        raise LookupError(f"no corpus page {name!r} (no {source})")
    body = source.read_bytes()
    article = extract(Fetched(f"http://corpus.test/{folder.name}", "text/html", None, body))
    if not article.text.strip():
        raise LookupError(f"no article text could be extracted from {name}")
    return _corpus_page(name, article.text, meta_description(body))


def default_set(
    limit: int | None = None, max_words: int = DEFAULT_MAX_WORDS
) -> tuple[list[EvalPage], str]:
    """The default pages (up to `max_words` words) and a sentence saying which they are."""
    if not CORPUS.is_dir():
        found = [_fixture(n) for n in fixture_names()]
        return found[:limit], f"the project's fixture articles ({CORPUS} is absent)"
    chosen = [
        page
        for page in (_corpus_page(p.name, p.text, p.reference) for p in pages())
        if page.reference
        and (page.lang or "en").lower().startswith("en")
        and DEFAULT_MIN_WORDS <= page.words <= max_words
    ]
    chosen.sort(key=lambda p: (p.words, p.name))
    said = (
        f"every English corpus page (`articles/`, `readability-pages/` of "
        f"{MIN_PAGE_BYTES // 1000} KB and more) with a publisher's meta description and "
        f"{DEFAULT_MIN_WORDS}-{max_words:,} words of text, shortest first"
    )
    if limit is not None and limit < len(chosen):
        said += f"; the first {limit} of {len(chosen)} (--limit)"
    return chosen[:limit], said
