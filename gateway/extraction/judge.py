"""Whether a page is an article at all, or a section front, a search page, a login wall, or a
picture or video with no text, which are refused rather than summarized.

Three tests: a picture or video beside fewer than 20 words of text; Readability's
`isProbablyReaderable` on a whole page that has links or a sign-in form (it needs a few visible
paragraphs of 140+ characters); and, on the extracted content, how much prose stands beside
each headline link (a list of teasers or search results has a sentence or two per link; an
article's links sit inside its paragraphs).
"""

from __future__ import annotations

import math
import re

import lxml.html

from gateway.extraction.words import CJK, count_words

READERABLE_MIN_CHARS = 140  # Readability's defaults
READERABLE_MIN_SCORE = 20.0
CJK_CHAR_WEIGHT = 3  # Readability counts characters; a CJK one is worth about three Latin ones
HEADLINE_LINK_MIN_WORDS = 4  # a link this long that is its block's whole text heads an item
TEASER_LIST_MIN_ITEMS = 5
TEASER_MAX_WORDS_PER_ITEM = 40  # prose words beside each headline link in a list of teasers
MEDIA_MAX_WORDS = 20
NAVIGATION_MIN_LINKS = 5  # a page without links or forms that is short is just short

_UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|"
    r"gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|"
    r"sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote",
    re.I,
)
_MAYBE = re.compile(r"and|article|body|column|content|main|shadow", re.I)
_CJK_CHAR = re.compile(f"[{CJK}]")
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.I)
_MEDIA = (
    "//*[self::img or self::picture or self::video or self::audio or self::iframe"
    " or self::object or self::embed][not(ancestor::header or ancestor::nav or ancestor::footer)]"
)
_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "li", "p", "div", "dt", "td")


def visible(node: lxml.html.HtmlElement) -> bool:
    """Not hidden by itself or an ancestor (inline style, `hidden`, `aria-hidden`)."""
    for el in (node, *node.iterancestors()):
        if _DISPLAY_NONE.search(el.get("style", "")) or el.get("hidden") is not None:
            return False
        if el.get("aria-hidden") == "true" and "fallback-image" not in el.get("class", ""):
            return False
    return True


def _weighted_length(text: str) -> int:
    """Characters, a CJK character counted as CJK_CHAR_WEIGHT (it holds about a word)."""
    return len(text) + (CJK_CHAR_WEIGHT - 1) * len(_CJK_CHAR.findall(text))


def readerable(root: lxml.html.HtmlElement) -> bool:
    """Readability's isProbablyReaderable: enough long visible paragraphs (CJK weighted)."""
    nodes = root.xpath("//p | //pre | //article | //div[br]")
    score = 0.0
    for node in nodes:
        names = f"{node.get('class', '')} {node.get('id', '')}"
        if _UNLIKELY.search(names) and not _MAYBE.search(names):
            continue
        if node.tag == "p" and any(a.tag == "li" for a in node.iterancestors()):
            continue
        length = _weighted_length(node.text_content().strip())
        if length < READERABLE_MIN_CHARS or not visible(node):
            continue
        score += math.sqrt(length - READERABLE_MIN_CHARS)
        if score > READERABLE_MIN_SCORE:
            return True
    return False


def _headline_links(content: lxml.html.HtmlElement) -> int:
    """Links of several words that are the whole text of their block (an item's headline)."""
    count = 0
    for link in content.iter("a"):
        words = link.text_content().split()
        if len(words) < HEADLINE_LINK_MIN_WORDS:
            continue
        block = next((a for a in link.iterancestors() if a.tag in _BLOCKS), None)
        if block is not None and len(block.text_content().split()) == len(words):
            count += 1
    return count


def teaser_list(content: lxml.html.HtmlElement) -> bool:
    items = _headline_links(content)
    if items < TEASER_LIST_MIN_ITEMS:
        return False
    link_words = sum(count_words(a.text_content()) for a in content.iter("a"))
    prose = count_words(content.text_content()) - link_words
    return prose / items < TEASER_MAX_WORDS_PER_ITEM


def refusal(
    page: lxml.html.HtmlElement, content: lxml.html.HtmlElement | None, words: int
) -> str | None:
    """Why the page is not an article (None: it is one). `content` is the extracted
    article's markup, `words` the words of its text."""
    if words < MEDIA_MAX_WORDS and page.xpath(_MEDIA):  # a logo in the header is no picture
        return "the page shows a picture or a video with no article text"
    navigable = len(page.xpath("//a[@href]")) >= NAVIGATION_MIN_LINKS
    if not readerable(page) and (navigable or page.xpath("//input[@type='password']")):
        return "the page has links or a sign-in form but no paragraphs of article text"
    if content is not None and teaser_list(content):
        return "the page is a list of headlines or search results, not an article"
    return None
