"""The page parsed once with lxml, and refused when it is too big a job for the extractor.

Readability's work grows with the number of elements times their depth (a 1 MB page of
tables nested 10,000 deep takes minutes), so a page is read only within MAX_ELEMENTS
elements and MAX_DEPTH levels of nesting; the 5 MB body cap bounds the rest.
"""

from __future__ import annotations

import lxml.etree
import lxml.html

MAX_ELEMENTS = 100_000  # the corpus's largest page (a Wikipedia article) has about 10,000
MAX_DEPTH = 128  # the corpus's deepest page nests 38 levels; libxml2 stops reading at 256
_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)


class PageTooComplex(Exception):
    """More elements or deeper nesting than the extractor reads."""


def parse(text: str) -> lxml.html.HtmlElement | None:
    """The page's tree (None for a page with no markup at all), within the limits."""
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8"), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None
    elements = int(root.xpath("count(//*)"))
    if elements > MAX_ELEMENTS:
        raise PageTooComplex(f"the page has {elements} elements; the limit is {MAX_ELEMENTS}")
    if root.xpath("boolean(//*[count(ancestor::*) >= $depth])", depth=MAX_DEPTH):
        raise PageTooComplex(f"the page nests elements over {MAX_DEPTH} levels deep")
    return root
