"""Pull one string field out of JSON while it is still being generated."""

from __future__ import annotations

import re

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


class StringFieldStream:
    """Feed raw JSON pieces; get back the new characters of `field`'s string value, decoded
    exactly as json.loads would decode them."""

    def __init__(self, field: str) -> None:
        self._start = re.compile(r'"' + re.escape(field) + r'"\s*:\s*"')
        self._buf = ""
        self._pos = -1  # -1: the field has not started
        self.done = False

    def feed(self, piece: str) -> str:
        self._buf += piece
        if self.done:
            return ""
        if self._pos < 0:
            found = self._start.search(self._buf)
            if not found:
                return ""
            self._pos = found.end()
        out: list[str] = []
        buf, i = self._buf, self._pos
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                self.done = True
                i += 1
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(buf):
                break  # wait for the rest of the escape
            kind = buf[i + 1]
            if kind != "u":
                out.append(_ESCAPES.get(kind, kind))
                i += 2
                continue
            if i + 6 > len(buf):
                break
            code = int(buf[i + 2 : i + 6], 16)
            if 0xD800 <= code < 0xDC00:  # a surrogate pair needs its second half
                if i + 12 > len(buf):
                    break
                if buf[i + 6 : i + 8] == "\\u":
                    low = int(buf[i + 8 : i + 12], 16)
                    if 0xDC00 <= low < 0xE000:
                        out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                        i += 12
                        continue
            out.append(chr(code))
            i += 6
        self._pos = i
        return "".join(out)
