"""The input budget's selection (factory/budget.py), with a word-count tokenizer and a
hand-made embedder: the rules, not the models."""

from __future__ import annotations

import numpy as np
import pytest

from factory.budget import head, select
from factory.sentences import split_sentences


def words(text: str) -> int:
    return len(text.split())


def topic_embed(texts: list[str]) -> np.ndarray:
    """Sentences about bridges point one way, everything else another."""
    rows = np.array([[1.0, 0.1] if "bridge" in t else [0.1, 1.0] for t in texts])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


ARTICLE = (
    "The council approved a new bridge over the river on Tuesday.\n\n"
    "The weather was mild and the meeting started late.\n"
    "A local band played outside the hall before the vote.\n\n"
    "The bridge will cost twenty million dollars and open in 2027.\n"
    "Engineers said the bridge would carry four lanes of traffic.\n\n"
    "Parking near the hall was hard to find that evening.\n"
    "Residents said the bridge plan was overdue."
)


def sentences_of(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_an_article_under_budget_is_left_as_it_is() -> None:
    """Nothing dropped, nothing reordered: the very same text."""
    chosen = select(ARTICLE, words(ARTICLE), words, topic_embed)
    assert chosen.text == ARTICLE and chosen.applied == "under_budget"
    assert chosen.dropped_sentences == 0 and chosen.selected_sentences == 7


def test_over_budget_the_lead_then_the_most_central_sentences_in_document_order() -> None:
    chosen = select(ARTICLE, 32, words, topic_embed)
    kept = sentences_of(chosen.text)
    assert kept == [
        "The council approved a new bridge over the river on Tuesday.",
        "The bridge will cost twenty million dollars and open in 2027.",
        "Engineers said the bridge would carry four lanes of traffic.",
    ]
    assert words(chosen.text) <= 32
    assert chosen.applied == "ranked"
    assert (chosen.selected_sentences, chosen.dropped_sentences) == (3, 4)
    assert chosen.article_tokens == words(ARTICLE)


def test_sentences_are_never_cut_and_neighbours_keep_their_spacing() -> None:
    chosen = select(ARTICLE, 32, words, topic_embed)
    original = sentences_of(ARTICLE)
    assert all(s in original for s in sentences_of(chosen.text))
    # The two bridge sentences were neighbours (one line break between them); the lead was
    # not next to them, so a paragraph break marks what was left out.
    assert "2027.\nEngineers" in chosen.text
    assert "Tuesday.\n\nThe bridge" in chosen.text


def test_bad_input_a_budget_smaller_than_the_lead_keeps_the_lead_whole() -> None:
    chosen = select(ARTICLE, 3, words, topic_embed)
    assert chosen.text == "The council approved a new bridge over the river on Tuesday."
    assert chosen.selected_sentences == 1 and chosen.dropped_sentences == 6


def test_bad_input_one_giant_sentence_is_selected_in_windows_of_words() -> None:
    giant = " ".join(f"word{i}" for i in range(400))  # no punctuation at all
    chosen = select(giant, 170, words, topic_embed)
    assert chosen.applied == "ranked"
    assert words(chosen.text) <= 170
    assert chosen.text.startswith("word0 word1 ")  # the lead window
    assert chosen.selected_sentences == 2 and chosen.dropped_sentences == 3  # 80-word windows


@pytest.mark.parametrize(
    "text",
    [
        "Der Rat hat am Dienstag eine neue Brücke genehmigt. Das Wetter war mild. "
        "Die Brücke kostet zwanzig Millionen Euro. Eine Band spielte vor dem Rathaus.",
        "市议会周二批准了一座新桥。天气很温和。这座桥将耗资两千万美元。一支乐队在市政厅外演奏。",
    ],
    ids=["german", "chinese"],
)
def test_bad_input_non_english_text_is_selected_by_whole_sentences(text: str) -> None:
    chars = len  # a tokenizer that counts characters: CJK has no spaces between words
    chosen = select(text, chars(text) // 2, chars, topic_embed)
    assert chosen.applied == "ranked"
    assert 0 < chars(chosen.text) <= chars(text) // 2
    assert all(s in sentences_of(text) for s in sentences_of(chosen.text))
    assert chosen.text.startswith(sentences_of(text)[0])


def test_without_the_embedder_sentences_are_taken_by_position() -> None:
    chosen = select(ARTICLE, 32, words, None)
    assert chosen.applied == "lead"
    assert sentences_of(chosen.text) == sentences_of(ARTICLE)[:3]


def test_head_truncation_counts_the_sentences_it_reaches() -> None:
    chosen = head(ARTICLE, 15, words)
    assert chosen.applied == "head" and chosen.text == ARTICLE  # the prompt makes the cut
    assert (chosen.selected_sentences, chosen.dropped_sentences) == (2, 5)
    assert head(ARTICLE, 1000, words).applied == "under_budget"
