"""/extract: exact offsets, chunking past GLiNER's window, spaCy fallback engine."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from factory.app import create_app
from factory.ner import word_windows
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.servers import serve

FILLER = "the quiet committee reviewed several routine items during a long afternoon session "


def _long_text_with(name: str, at_word: int) -> tuple[str, int]:
    words = (FILLER * (at_word // 10 + 1)).split()[:at_word]
    head = " ".join(words) + " . "
    text = head + f"Yesterday {name} met reporters in Berlin. " + " ".join(words[:300])
    return text, len(head) + len("Yesterday ")


def test_word_windows_cover_every_word_with_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(1000))
    spans = word_windows(text, size=250, overlap=50)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    covered = set()
    for a, b in spans:
        covered.update(text[a:b].split())
        assert len(text[a:b].split()) <= 250
    assert covered == set(text.split())
    assert word_windows("   ", 250, 50) == []


def test_offsets_slice_the_original_text(client: httpx.Client, articles: dict[str, str]) -> None:
    text = articles["bridge"] + "\n\n  Ünïcode — “quotes” café, naïve façade.  "
    r = client.post("/extract", json={"text": text, "threshold": 0.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["engine"] == "gliner"
    assert body["entities"], "the untrained model scores every span; threshold 0 keeps them"
    spans = []
    for ent in body["entities"]:
        assert text[ent["start"] : ent["end"]] == ent["text"]
        assert ent["label"] in ("Person", "Organization", "Location")
        spans.append((ent["start"], ent["end"]))
    assert len(spans) == len(set(spans)), "duplicates from overlapping windows were dropped"
    ordered = sorted(spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered)), "no overlaps"


def test_gliner_reads_past_its_384_word_window(client: httpx.Client) -> None:
    text, where = _long_text_with("Angela Merkel", at_word=2000)
    r = client.post("/extract", json={"text": text, "threshold": 0.0, "labels": ["Person"]})
    body = r.json()
    assert body["chunks"] >= 9
    late = [e for e in body["entities"] if e["start"] >= where - 20]
    assert late, "entities past word 2,000 were found"
    for ent in late:
        assert text[ent["start"] : ent["end"]] == ent["text"]


@pytest.fixture(scope="module")
def spacy_client(gguf_path: Path, gliner_dir: Path) -> Iterator[httpx.Client]:
    settings = factory_settings(gguf_path, gliner_dir, ner_engine="spacy", tts_engines=["piper"])
    with serve(create_app(settings)) as base:
        wait_all_loaded(base)
        with httpx.Client(base_url=base, timeout=120) as c:
            yield c


def test_spacy_engine_finds_a_real_entity_at_word_2000(spacy_client: httpx.Client) -> None:
    health = spacy_client.get("/health").json()
    assert health["ner_engine"] == "spacy" and health["gliner_loaded"] is False
    text, where = _long_text_with("Angela Merkel", at_word=2000)
    body = spacy_client.post("/extract", json={"text": text}).json()
    assert body["engine"] == "spacy"
    found = {(e["text"], e["label"], e["start"]) for e in body["entities"]}
    assert ("Angela Merkel", "Person", where) in found
    assert any(e["text"] == "Berlin" and e["label"] == "Location" for e in body["entities"])


def test_spacy_engine_names_labels_it_cannot_produce(spacy_client: httpx.Client) -> None:
    body = spacy_client.post(
        "/extract",
        json={"text": "Jane Okafor leads Springfield.", "labels": ["Person", "Recipe"]},
    ).json()
    assert body["unsupported_labels"] == ["Recipe"]
    assert [e["label"] for e in body["entities"]] == ["Person"]
