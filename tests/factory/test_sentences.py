"""Sentence splitting: exact offsets, and the hard cases of a hand-labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.sentences import boundary_scores, labelled_text, split_sentences

CASES = json.loads((Path(__file__).parents[1] / "fixtures" / "sentences.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_hand_labelled_sentences_are_found_with_their_offsets(case: dict[str, object]) -> None:
    text, gold = labelled_text(case)
    found = split_sentences(text)
    for s in found:
        assert text[s.start : s.end] == s.text == s.text.strip()
    assert [(s.start, s.end) for s in found] == gold, [s.text for s in found]


def test_overall_accuracy_on_the_hand_labelled_set_is_high() -> None:
    correct = total_found = total_gold = 0
    for case in CASES:
        text, gold = labelled_text(case)
        c, f, g = boundary_scores([(s.start, s.end) for s in split_sentences(text)], gold)
        correct, total_found, total_gold = correct + c, total_found + f, total_gold + g
    assert correct / total_gold >= 0.95 and correct / total_found >= 0.95


def test_offsets_hold_with_odd_whitespace_and_repeated_sentences() -> None:
    text = "  \n\nSame.   Same.\r\n\r\n\tSame.\n \n Other one here!  "
    found = split_sentences(text)
    assert [s.text for s in found] == ["Same.", "Same.", "Same.", "Other one here!"]
    assert all(text[s.start : s.end] == s.text for s in found)
    assert len({s.start for s in found}) == 4


def test_text_without_punctuation_is_cut_into_word_windows() -> None:
    text = " ".join(f"word{i}" for i in range(250))
    found = split_sentences(text, max_words=80)
    assert [len(s.text.split()) for s in found] == [80, 80, 80, 10]
    assert all(text[s.start : s.end] == s.text for s in found)


def test_max_chars_bounds_the_text_considered() -> None:
    text = "A short sentence. " * 10_000
    found = split_sentences(text, max_chars=1_000)
    assert found and found[-1].end <= 1_000


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\n\n\n"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []
