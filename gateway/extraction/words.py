"""Counting words in any script: Chinese, Japanese and Korean put no spaces between words,
so each of their characters counts as one (a word there is one to two characters)."""

from __future__ import annotations

import re

CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"  # a regex character range
_WORD = re.compile(rf"[{CJK}]|[^\s{CJK}]+")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
