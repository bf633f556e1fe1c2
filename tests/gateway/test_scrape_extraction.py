"""What the extractor keeps and drops (issue 12), on small pages written for the project in
tests/fixtures/extraction/: metadata precedence, hidden nodes, repeated paragraphs, the
standfirst, captions and list items; pages that are not articles; legacy encodings declared
only in a <meta> tag; pages too big a job to read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.extraction.decoding import decode_html
from gateway.extraction.page import MAX_DEPTH, MAX_ELEMENTS
from gateway.scrape import Article, Fetched, ScrapeError, extract

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extraction"
REPEATED = "Please keep to the left of the gangway and hold the rail until the boat is tied up."


def page(name: str, charset: str | None = None) -> Article:
    body = (FIXTURES / name).read_bytes()
    return extract(Fetched(f"http://news.test/{name}", "text/html", charset, body))


def refused(body: bytes) -> ScrapeError:
    with pytest.raises(ScrapeError) as info:
        extract(Fetched("http://news.test/page", "text/html", None, body))
    return info.value


def test_metadata_wins_over_the_title_element_and_the_site_banner() -> None:
    article = page("behaviours.html")
    # og:title and JSON-LD's headline, not "Ferry back on the water | ..." nor the h1 banner.
    assert article.title == "Harbour ferry returns to service after a two-year refit"
    assert article.site_name == "The Harbour Gazette"
    assert article.byline == "Mara Lindqvist"


def test_the_published_date_is_taken_not_the_modified_one() -> None:
    article = page("behaviours.html")
    assert article.date is not None
    assert article.date.startswith("2026-02-03"), article.date  # dateModified is 2026-02-05


def test_hidden_nodes_are_dropped() -> None:
    text = page("behaviours.html").text
    for hidden in ("STYLE-HIDDEN", "ATTRIBUTE-HIDDEN", "ARIA-HIDDEN"):
        assert hidden not in text


def test_a_repeated_paragraph_is_kept_each_time() -> None:
    assert page("behaviours.html").text.count(REPEATED) == 2


def test_standfirst_caption_and_list_items_are_kept_in_order() -> None:
    text = page("behaviours.html").text
    standfirst = "The Molly Brown carried 300 passengers on its first crossing"
    caption = "The Molly Brown leaving Pier 4 on Monday morning"
    assert text.startswith(standfirst), text[:200]
    assert caption in text
    items = [
        "first crossing from Pier 4 at seven in the morning",
        "last crossing from the island at half past eleven at night",
        "hourly crossings on Sundays and public holidays",
    ]
    lines = text.splitlines()
    assert all(item in lines for item in items)  # one line each
    assert [lines.index(i) for i in items] == sorted(lines.index(i) for i in items)


def test_navigation_comment_form_and_headline_stay_out_of_the_text() -> None:
    text = page("behaviours.html").text
    assert "Username" not in text and "Leave a comment" not in text
    assert "Privacy" not in text and "Weather" not in text
    assert not text.startswith("Harbour ferry returns")  # the headline is the title


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("section-front.html", "list of headlines"),
        ("search.html", "no paragraphs"),
        ("login-wall.html", "no paragraphs"),
        ("image-only.html", "picture or a video"),
        ("video-only.html", "picture or a video"),
    ],
)
def test_pages_that_are_not_articles_are_refused(name: str, why: str) -> None:
    err = refused((FIXTURES / name).read_bytes())
    assert err.code == "not_an_article" and err.status == 422
    assert why in err.detail


def test_trafilatura_stands_in_when_readability_finds_no_text() -> None:
    """An app that serves its article only inside <noscript>: Readability skips it."""
    paragraph = "<p>The ferry crossed the harbour twelve times on its first day back.</p>"
    body = (
        "<html><head><title>Ferry back in service today</title></head><body>"
        f'<div id="app"></div><noscript>{paragraph * 8}</noscript></body></html>'
    ).encode()
    article = extract(Fetched("http://news.test/app", "text/html", None, body))
    assert article.text.count("twelve times on its first day back") == 8


def test_an_empty_app_shell_with_a_logo_is_short_not_a_picture() -> None:
    body = (
        b"<html><head><title>App</title></head><body><header><img src=/logo.svg>"
        b"<nav><a href=/>Home</a><a href=/help>Help</a></nav></header>"
        b'<div id="root"></div><script src=/app.js></script></body></html>'
    )
    article = extract(Fetched("http://news.test/app", "text/html", None, body))
    assert article.word_count < 50  # the scrape refuses it as too_few_words, not a picture


@pytest.mark.parametrize(
    ("name", "title", "phrase"),
    [
        ("windows-1251.html", "Паром вернулся на линию после ремонта", "двух лет ремонта"),
        ("shift_jis.html", "港のフェリーが二年ぶりに運航を再開", "四番桟橋から出航した"),
    ],
)
def test_a_legacy_encoding_declared_only_in_a_meta_tag(name: str, title: str, phrase: str) -> None:
    body = (FIXTURES / name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the fixture really is in the legacy encoding
    article = page(name)  # no charset in the Content-Type header
    assert article.title == title
    assert phrase in article.text
    assert "\ufffd" not in article.text


def test_words_of_a_japanese_article_are_counted_by_character() -> None:
    """Regression: whitespace-split, a Japanese article of 264 characters was 4 words, under
    the 50-word minimum of a scrape."""
    article = page("shift_jis.html")
    assert len(article.text.split()) < 50 <= article.word_count


def test_the_meta_tag_wins_over_a_guess() -> None:
    """ISO-8859-15 and windows-1252 differ in a few bytes only: 0xA4 is the euro sign in
    the first, the currency sign in the second, which a guess from the bytes picks."""
    body = (
        b'<html><head><meta charset="iso-8859-15"></head><body><p>La place co\xfbte 5 \xa4 '
        b"pour les \xe9l\xe8ves et 8 \xa4 pour les adultes.</p></body></html>"
    )
    assert "5 € pour les élèves" in decode_html(body, None)
    assert "5 € pour" not in decode_html(body.replace(b"iso-8859-15", b"unknown"), None)


def test_the_header_charset_wins_over_the_meta_tag() -> None:
    body = (FIXTURES / "windows-1251.html").read_bytes().replace(b"windows-1251", b"utf-8")
    article = extract(Fetched("http://news.test/ru", "text/html", "windows-1251", body))
    assert "двух лет ремонта" in article.text


def nested_tables(depth: int, cell: str, size: int) -> bytes:
    """A page of `size` bytes or more: tables nested `depth` deep, again and again."""
    block = "<table><tr><td>" * depth + f"<p>{cell}</p>" + "</td></tr></table>" * depth
    count = size // len(block) + 1
    return f"<html><head><title>Tables</title></head><body>{block * count}</body></html>".encode()


def test_a_5_mb_page_of_deeply_nested_tables_is_refused_as_too_complex() -> None:
    body = nested_tables(MAX_DEPTH // 3 + 1, "A long cell of text. " * 1000, 5 * 1024 * 1024)
    assert len(body) >= 5 * 1024 * 1024
    err = refused(body)
    assert err.code == "too_complex" and f"{MAX_DEPTH} levels" in err.detail


def test_a_5_mb_page_of_many_small_tables_is_refused_by_its_element_count() -> None:
    body = nested_tables(3, "Cell text.", 5 * 1024 * 1024)
    err = refused(body)
    assert err.code == "too_complex" and str(MAX_ELEMENTS) in err.detail


def test_a_5_mb_page_of_nested_tables_within_the_limits_is_read() -> None:
    prose = "Each cell of this old table layout holds a paragraph of the story itself. " * 30
    body = nested_tables(6, prose, 5 * 1024 * 1024)
    article = extract(Fetched("http://news.test/tables", "text/html", None, body))
    assert article.word_count > 100_000
    assert "holds a paragraph of the story itself" in article.text
