"""Named entities: GLiNER (zero-shot, chunked past its window) or spaCy (fixed label set)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from factory.hub import ModelFetchError, cache_first
from shared.schemas import Entity
from shared.settings import FactorySettings

log = logging.getLogger(__name__)

_WORD = re.compile(r"\S+")

# spaCy's OntoNotes labels that answer a requested label (compared case-insensitively).
SPACY_LABELS: dict[str, tuple[str, ...]] = {
    "person": ("PERSON",),
    "people": ("PERSON",),
    "organization": ("ORG",),
    "organisation": ("ORG",),
    "company": ("ORG",),
    "location": ("GPE", "LOC", "FAC"),
    "place": ("GPE", "LOC", "FAC"),
    "country": ("GPE",),
    "city": ("GPE",),
    "nationality": ("NORP",),
    "group": ("NORP",),
    "date": ("DATE",),
    "time": ("TIME",),
    "event": ("EVENT",),
    "product": ("PRODUCT",),
    "money": ("MONEY",),
    "law": ("LAW",),
    "work of art": ("WORK_OF_ART",),
    "language": ("LANGUAGE",),
    "percent": ("PERCENT",),
    "quantity": ("QUANTITY",),
}


@dataclass
class Extraction:
    entities: list[Entity]
    chunks: int
    unsupported_labels: list[str]


class Extractor(Protocol):
    engine: str
    name: str

    def extract(self, text: str, labels: list[str], threshold: float) -> Extraction: ...


def word_windows(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of overlapping windows of `size` words, covering the whole text."""
    words = [m.span() for m in _WORD.finditer(text)]
    if not words:
        return []
    step = size - overlap
    spans = []
    for first in range(0, len(words), step):
        last = min(first + size, len(words)) - 1
        spans.append((words[first][0], words[last][1]))
        if last == len(words) - 1:
            break
    return spans


def merge_entities(found: list[Entity]) -> list[Entity]:
    """Drop duplicates from overlapping windows: per span keep the best-scoring label,
    and drop spans that overlap a better-scoring one."""
    best: dict[tuple[int, int], Entity] = {}
    for ent in found:
        key = (ent.start, ent.end)
        if key not in best or ent.score > best[key].score:
            best[key] = ent
    kept: list[Entity] = []
    for ent in sorted(best.values(), key=lambda e: -e.score):
        if all(ent.end <= k.start or ent.start >= k.end for k in kept):
            kept.append(ent)
    return sorted(kept, key=lambda e: (e.start, e.end))


class GlinerExtractor:
    engine = "gliner"

    def __init__(self, model: Any, name: str, chunk_words: int, overlap_words: int) -> None:
        self.model = model
        self.name = name
        self.chunk_words = chunk_words
        self.overlap_words = overlap_words

    @classmethod
    def load(cls, settings: FactorySettings) -> GlinerExtractor:
        from gliner import GLiNER

        source = settings.gliner_model
        local = Path(source).is_dir()
        if not local:
            log.info("fetching %s from the model hub (cached after the first start)", source)

        def load(cached: bool) -> GLiNER:
            return GLiNER.from_pretrained(source, local_files_only=cached)

        try:
            model = load(True) if local else cache_first(load)
        except Exception as exc:
            if local:
                raise
            raise ModelFetchError(source, exc, "FACTORY_GLINER_MODEL") from exc
        model.eval()
        name = Path(source).name if local else source
        return cls(model, name, settings.ner_chunk_words, settings.ner_chunk_overlap_words)

    def extract(self, text: str, labels: list[str], threshold: float) -> Extraction:
        spans = word_windows(text, self.chunk_words, self.overlap_words)
        if not spans:
            return Extraction([], 0, [])
        chunks = [text[a:b] for a, b in spans]
        results = self.model.inference(chunks, labels, threshold=threshold, flat_ner=True)
        found = [
            Entity(
                text=text[offset + e["start"] : offset + e["end"]],
                label=e["label"],
                score=round(float(e["score"]), 4),
                start=offset + e["start"],
                end=offset + e["end"],
            )
            for (offset, _), ents in zip(spans, results, strict=True)
            for e in ents
        ]
        return Extraction(merge_entities(found), len(chunks), [])


class SpacyExtractor:
    engine = "spacy"

    def __init__(self, nlp: Any, name: str) -> None:
        self.nlp = nlp
        self.name = name

    @classmethod
    def load(cls, settings: FactorySettings) -> SpacyExtractor:
        import spacy

        nlp = spacy.load(settings.spacy_model, exclude=["lemmatizer"])
        return cls(nlp, settings.spacy_model)

    def extract(self, text: str, labels: list[str], threshold: float) -> Extraction:
        wanted: dict[str, str] = {}
        unsupported = []
        for label in labels:
            spacy_labels = SPACY_LABELS.get(label.lower())
            if spacy_labels is None:
                unsupported.append(label)
            for sl in spacy_labels or ():
                wanted.setdefault(sl, label)
        if not wanted:
            return Extraction([], 1, unsupported)
        doc = self.nlp(text)
        # spaCy's NER gives no per-entity confidence; its entities are reported with score 1.
        entities = [
            Entity(
                text=e.text, label=wanted[e.label_], score=1.0, start=e.start_char, end=e.end_char
            )
            for e in doc.ents
            if e.label_ in wanted
        ]
        return Extraction(entities, 1, unsupported)


def load_extractor(settings: FactorySettings) -> Extractor:
    if settings.ner_engine == "spacy":
        return SpacyExtractor.load(settings)
    return GlinerExtractor.load(settings)
