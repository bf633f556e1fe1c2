"""An HTML page's bytes as text.

A page whose bytes are valid UTF-8 is read as UTF-8 whatever it declares (legacy text is
almost never valid UTF-8 by chance, and pages re-saved as UTF-8 keep their old `<meta>`).
Otherwise a byte-order mark wins, then the charset of the Content-Type header, then a
`<meta charset>` or `<meta http-equiv="Content-Type">` in the page's first 4 KB (w3lib,
Scrapy's rules), then charset-normalizer's best guess.
"""

from __future__ import annotations

import charset_normalizer
from w3lib.encoding import html_to_unicode

_GUESS_BYTES = 65_536


def _guess(body: bytes) -> str | None:
    best = charset_normalizer.from_bytes(body[:_GUESS_BYTES]).best()
    return best.encoding if best else None


def decode_html(body: bytes, charset: str | None) -> str:
    if b"\0" not in body:  # NULs: UTF-16 or UTF-32 without a byte-order mark
        try:
            return body.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            pass
    header = f"text/html; charset={charset}" if charset else None
    _, text = html_to_unicode(header, body, auto_detect_fun=_guess)
    return text
