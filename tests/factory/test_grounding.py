"""The grounding check's pure parts: numbers, names, the article's lexicon, and `ground()` on
hand-made unit vectors (no model: these run in `pytest -m "not slow"`)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from factory.grounding import (
    ClaimSpec,
    Grounding,
    Lexicon,
    ground,
    names,
    number_known,
    numbers,
    summary_claims,
)
from factory.sentences import Sentence
from shared.schemas import Claim


def values(text: str) -> list[Decimal]:
    return [n.value for n in numbers(text)]


def known(claim: str, article: str) -> bool:
    found = numbers(claim)
    assert len(found) == 1, found
    return number_known(found[0], numbers(article))


# --- numbers ------------------------------------------------------------------------


def test_digits_with_thousands_separators_and_decimals() -> None:
    assert values("The plant employs 1,200 people and 15.5 percent of them") == [
        Decimal(1200),
        Decimal("15.5"),
    ]
    assert known("1,200 jobs", "It employs 1200 people.")
    assert known("1200 jobs", "It employs 1,200 people.")


def test_percent_written_three_ways_is_one_value() -> None:
    assert values("40%") == values("40 percent") == values("40 per cent") == [Decimal(40)]
    assert [n.shown for n in numbers("40 percent, 40 per cent")] == ["40 percent", "40 per cent"]


def test_scale_words_multiply_and_set_the_step() -> None:
    (n,) = numbers("Some 2.5 million people")
    assert n.shown == "2.5 million"
    assert n.value == Decimal(2_500_000) and n.step == Decimal(100_000)
    assert values("a $5bn deal") == [Decimal(5 * 10**9)]
    assert known("2.5 million", "It sold 2,500,000 copies.")


def test_a_scale_word_after_digits_is_not_counted_again_as_a_number_word() -> None:
    assert [n.shown for n in numbers("2.5 million people and 3 billion euros")] == [
        "2.5 million",
        "3 billion",
    ]


def test_number_words_and_compounds() -> None:
    assert values("forty-two years") == [Decimal(42)]
    assert values("two hundred and five thousand") == [Decimal(205_000)]
    assert values("nineteen hundred") == [Decimal(1900)]
    assert values("a dozen eggs") == [Decimal(12)]
    assert values("one million") == [Decimal(10**6)]
    assert known("forty-two", "It took 42 days.")


def test_a_lone_one_first_or_second_is_not_a_figure() -> None:
    assert values("one of the largest, no one came") == []
    assert values("First, the second round") == []
    assert values("the first two years") == [Decimal(2)]  # "first two" is not 3


def test_ordinals_are_ranks_known_only_as_ranks() -> None:
    (rank,) = numbers("the 20th century")
    assert rank.value == Decimal(20) and rank.ordinal
    assert values("the twenty-first century") == [Decimal(21)]
    assert known("the 3rd quarter", "for the third quarter")
    assert known("the third quarter", "in the 3rd quarter")
    # "third quarter" does not state the 3 of "a vote of 6 to 3".
    assert not known("by 3 votes", "for the third quarter")


def test_rounding_about_40_percent_is_known_from_39_6_but_not_the_reverse() -> None:
    assert known("about 40%", "Turnout was 39.6%.")
    assert not known("39.6%", "Turnout was about 40%.")
    assert not known("about 40%", "Turnout was 41.2%.")
    assert known("2.5 million", "It sold 2,460,000 copies.")
    assert not known("2.5 million", "It sold 2,600,000 copies.")


def test_a_different_number_is_unknown() -> None:
    assert not known("5.1 billion euros", "Revenue was 4.2 billion euros.")
    assert not known("2015", "It opened in 2016.")


def test_list_item_numbers_are_not_figures() -> None:
    assert values("2. The whales") == []
    assert values("1) Preheat the oven") == []
    assert values("Steps: 1. Open the box. 2. Lift the lid.") == []
    assert values("He scored 2. Then he left.") == [Decimal(2)]
    assert values("Founded in 2015. 3 people work there.") == [Decimal(2015), Decimal(3)]


def test_digits_glued_to_a_letter_before_them_are_not_a_number() -> None:
    assert values("the G40 faction") == []


def test_bad_input_empty_text_or_only_punctuation_has_no_numbers() -> None:
    assert numbers("") == []
    assert numbers("... — ?! ,.") == []


# --- names --------------------------------------------------------------------------


def test_mid_sentence_names_are_candidates() -> None:
    assert names("The plan was approved by Angela Merkel on Monday.") == [
        "Angela",
        "Merkel",
        "Monday",
    ]


def test_a_capitalised_first_word_alone_is_not_a_name() -> None:
    assert names("Obama said it.") == []
    assert names("It rained. Police came.") == []
    assert names("Key facts: Apple sells phones.") == []
    assert names("Really? Apple sells phones.") == []


def test_a_run_at_the_start_of_a_sentence_is_a_name() -> None:
    assert names("New York said it would pay.") == ["New", "York"]
    # After a sentence-initial function word a capital is evidence again.
    assert names("The Springfield council voted.") == ["Springfield"]


def test_title_case_headlines_check_only_name_shaped_words() -> None:
    assert names("The Most Powerful Console Ever Made") == []
    assert names("The World's Most Powerful Companies Are Battered") == []
    assert names("Building the Future of ECMAScript") == ["ECMAScript"]


def test_name_shaped_words_count_even_at_the_start() -> None:
    assert names("NASA launched a probe.") == ["NASA"]
    assert names("FirstGroup won the contract.") == ["FirstGroup"]
    assert names("Phoronix.com reported it.") == ["Phoronix.com"]


def test_function_words_titles_and_contractions_are_not_names() -> None:
    assert names("He met Mr. Smith and Dr. Jones.") == ["Smith", "Jones"]
    assert names("He met Mr Smith.") == ["Smith"]
    assert names("Said I’m sure, and I'll go.") == []


def test_abbreviation_dots_do_not_end_a_sentence() -> None:
    assert names("The U.S. Army moved.") == ["U.S", "Army"]
    assert names("written by Bradley M. Kuhn today") == ["Bradley", "M", "Kuhn"]


def test_connectors_join_one_name_and_punctuation_splits_runs() -> None:
    assert names("rates set by the Bank of England") == ["Bank", "England"]
    assert names("She lives in Paris, France.") == ["Paris", "France"]


def test_names_glued_to_han_script_are_words_of_their_own() -> None:
    assert names("DeepMind新电脑已可利用记忆自学") == ["DeepMind"]


def test_bad_input_empty_text_or_only_punctuation_has_no_names() -> None:
    assert names("") == []
    assert names("?! ... — «»") == []


# --- the article's lexicon ----------------------------------------------------------


def test_lexicon_possessives_either_way_and_curly_apostrophes() -> None:
    assert Lexicon("Lindqvist's plan was approved.").knows("Lindqvist")
    assert Lexicon("Lindqvist planned it.").knows("Lindqvist’s")


def test_lexicon_inflections_and_demonyms() -> None:
    lexicon = Lexicon("The shop opens in Iran. China and Germany agree.")
    for word in ("opened", "Iranian", "Chinese", "German"):
        assert lexicon.knows(word), word


def test_lexicon_is_not_fooled_by_a_shared_prefix() -> None:
    lexicon = Lexicon("He raised his hand: it is natural, said the market.")
    for word in ("Han", "Natus", "Mark"):
        assert not lexicon.knows(word), word


def test_lexicon_short_forms_of_capitalised_names() -> None:
    lexicon = Lexicon("Bradley Kuhn moved to Britain.")
    assert lexicon.knows("Brad") and lexicon.knows("British")


def test_lexicon_hyphens_both_ways() -> None:
    assert Lexicon("Anglo-French talks began.").knows("French")
    assert Lexicon("The Anglo and the French sides met.").knows("Anglo-French")
    assert not Lexicon("The French side met.").knows("Anglo-French")


def test_lexicon_accents_are_ignored() -> None:
    assert Lexicon("He lives in Zürich.").knows("Zurich")
    assert Lexicon("He lives in Zurich.").knows("Zürich")


def test_lexicon_acronyms_with_and_without_dots() -> None:
    lexicon = Lexicon("The U.S. economy grew.")
    assert lexicon.knows("US") and lexicon.knows("U.S.")
    assert Lexicon("The US economy grew.").knows("U.S.")
    # The pronoun is not the country.
    assert not Lexicon("Tell us more.").knows("US")
    assert Lexicon("Nasa launched it.").knows("NASA")


def test_lexicon_acronym_and_its_words_are_one_name() -> None:
    assert Lexicon("The World Health Organization said so.").knows("WHO")
    assert Lexicon("The US said so.").unknown("The United States agreed.") == []
    assert (
        Lexicon("The ABC said so.").unknown("The Australian Broadcasting Corporation said.") == []
    )
    assert Lexicon("The ABC said so.").unknown("Ivan Tolstoy said so.") == ["Ivan", "Tolstoy"]


def test_lexicon_a_word_cut_short_at_the_end_of_a_description() -> None:
    lexicon = Lexicon("Apps on Google Play are updated.")
    assert lexicon.unknown("Apps are updated on Google Pla...") == []
    assert lexicon.unknown("Apps are updated on Google Pla…") == []
    assert lexicon.unknown("Apps are updated on Google Pla") == ["Pla"]


def test_lexicon_unknown_lists_only_absent_names() -> None:
    lexicon = Lexicon("Nordlicht opened a plant in Dresden.")
    assert lexicon.unknown("Nordlicht will open a plant in Lisbon.") == ["Lisbon"]


def test_bad_input_lexicon_of_an_empty_article_and_empty_claims() -> None:
    lexicon = Lexicon("")
    assert not lexicon.knows("Dresden")
    assert lexicon.unknown("") == [] and lexicon.unknown("... !") == []


# --- claims and ground() ------------------------------------------------------------


def test_summary_claims_splits_sentences_then_key_points() -> None:
    summary = "Nordlicht grew. Its shares rose."
    claims = summary_claims(summary, ["Revenue rose.", "Profit fell."])
    assert [(c.kind, c.index, c.text) for c in claims] == [
        ("main_summary", 0, "Nordlicht grew."),
        ("main_summary", 1, "Its shares rose."),
        ("key_point", 0, "Revenue rose."),
        ("key_point", 1, "Profit fell."),
    ]
    for c in claims[:2]:
        assert c.start is not None and summary[c.start : c.end] == c.text


def test_bad_input_empty_and_punctuation_only_claims_are_left_out() -> None:
    assert summary_claims(None, []) == []
    assert summary_claims("   ", ["", "  ", "...", "—"]) == []
    (claim,) = summary_claims("", ["", "...", "Profit fell."])
    assert (claim.kind, claim.index) == ("key_point", 2)


ARTICLE = "Nordlicht grew fast. Revenue was 4.2 billion euros. The plant is in Dresden."


def article_sentences() -> list[Sentence]:
    out, at = [], 0
    for text in (
        "Nordlicht grew fast.",
        "Revenue was 4.2 billion euros.",
        "The plant is in Dresden.",
    ):
        start = ARTICLE.index(text, at)
        out.append(Sentence(start, start + len(text), text))
        at = start + len(text)
    return out


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


SENTENCE_VECTORS = np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)])


def check(
    texts: list[str],
    vectors: list[np.ndarray],
    min_support: float = 0.5,
    sources: int = 3,
    source_floor: float = 0.2,
) -> list[Claim]:
    specs = [ClaimSpec("key_point", i, t) for i, t in enumerate(texts)]
    grounding = Grounding(min_support=min_support, sources=sources, source_floor=source_floor)
    return ground(
        ARTICLE, article_sentences(), SENTENCE_VECTORS, specs, np.stack(vectors), grounding
    )


def test_a_supported_claim_links_its_best_sources_in_order() -> None:
    (claim,) = check(["Revenue was 4.2 billion euros."], [unit(0.2, 1, 0.1)], min_support=0.5)
    assert not claim.unsupported and claim.reasons == []
    sims = [s.similarity for s in claim.sources]
    assert sims == sorted(sims, reverse=True)
    assert claim.sources[0].text == "Revenue was 4.2 billion euros."
    assert claim.support == sims[0] == pytest.approx(0.9755, abs=1e-3)
    for s in claim.sources:
        assert ARTICLE[s.start : s.end] == s.text


def test_a_low_support_claim_is_unsupported() -> None:
    (claim,) = check(["Nordlicht grew."], [unit(1, 1, 1)], min_support=0.6)
    assert claim.support == pytest.approx(0.5774, abs=1e-3)
    assert claim.unsupported and claim.reasons == ["low_support"]
    (claim,) = check(["Nordlicht grew."], [unit(1, 1, 1)], min_support=0.5)
    assert not claim.unsupported


def test_sources_are_floored_but_the_best_is_always_given() -> None:
    # Similarities 0.8, 0.6, 0 -> with floor 0.7 only the best; with floor 0.5 two.
    vector = np.array([0.8, 0.6, 0.0], dtype=np.float32)
    (claim,) = check(["Nordlicht grew."], [vector], source_floor=0.7, min_support=0.1)
    assert [round(s.similarity, 2) for s in claim.sources] == [0.8]
    (claim,) = check(["Nordlicht grew."], [vector], source_floor=0.5, min_support=0.1)
    assert [round(s.similarity, 2) for s in claim.sources] == [0.8, 0.6]
    # The best is given even below the floor.
    (claim,) = check(["Nordlicht grew."], [unit(1, 1, 1)], source_floor=0.9, min_support=0.1)
    assert len(claim.sources) == 1


def test_sources_are_capped_at_the_number_asked_for() -> None:
    (claim,) = check(["x"], [unit(1, 0.9, 0.8)], sources=2, source_floor=0.0)
    assert len(claim.sources) == 2


def test_unknown_numbers_and_names_flag_a_similar_claim() -> None:
    (claim,) = check(
        ["Revenue was 5.1 billion euros, said Hans Gruber."], [unit(0, 1, 0)], min_support=0.5
    )
    assert claim.unsupported
    assert claim.reasons == ["unknown_number", "unknown_name"]
    assert claim.unknown_numbers == ["5.1 billion"]
    assert claim.unknown_names == ["Hans", "Gruber"]


def test_bad_input_claims_of_empty_text_or_only_punctuation_are_checked_by_support_only() -> None:
    claims = check(["", "?!"], [unit(1, 0, 0), unit(0, 0, 1)], min_support=0.5)
    for claim in claims:
        assert not claim.unsupported and claim.unknown_numbers == claim.unknown_names == []


def test_bad_input_an_article_without_sentences_supports_nothing() -> None:
    (claim,) = ground(
        "",
        [],
        np.zeros((0, 3), dtype=np.float32),
        [ClaimSpec("key_point", 0, "Revenue rose.")],
        np.stack([unit(1, 0, 0)]),
        Grounding(min_support=0.5),
    )
    assert claim.support == 0.0 and claim.sources == []
    assert claim.unsupported and claim.reasons == ["low_support"]
