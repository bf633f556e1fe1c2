"""Streaming a JSON string field piece by piece gives what json.loads gives."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from worker.fields import StringFieldStream


def run(raw: str, cuts: list[int]) -> str:
    stream = StringFieldStream("main_summary")
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    return "".join(stream.feed(raw[a:b]) for a, b in itertools.pairwise(points))


@given(
    title=st.text(max_size=40),
    summary=st.text(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=60),
    ascii_only=st.booleans(),
)
def test_pieces_decode_to_the_field_value(
    title: str, summary: str, cuts: list[int], ascii_only: bool
) -> None:
    raw = json.dumps(
        {"title": title, "main_summary": summary, "key_points": ["x"]}, ensure_ascii=ascii_only
    )
    assert run(raw, cuts) == summary


def test_the_key_inside_another_string_is_not_the_field() -> None:
    raw = json.dumps({"title": 'say "main_summary": "no"', "main_summary": "yes"})
    assert run(raw, [5, 17, 30]) == "yes"
