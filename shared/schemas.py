"""Pydantic models for the factory's API and the summary every service passes around."""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared import defaults as d

Style = Literal["skimmer", "executive", "eli5"]
Sentiment = Literal["positive", "negative", "neutral"]
Category = Literal[
    "business",
    "technology",
    "science",
    "health",
    "politics",
    "world",
    "sports",
    "entertainment",
    "other",
]


_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _unicode(value: object) -> object:
    """Refuse text that has no UTF-8 form: a lone surrogate such as JSON's `"\\ud800"`.

    Runs before pydantic's own string checks, so every field gives this one reason."""
    if isinstance(value, str) and _SURROGATE.search(value):
        raise ValueError("must be valid Unicode: it holds a lone surrogate (U+D800 to U+DFFF)")
    return value


def _refuse(pattern: re.Pattern[str]) -> AfterValidator:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found:
            raise ValueError(f"must not contain the control character U+{ord(found[0]):04X}")
        return value

    return AfterValidator(check)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    return value


# Put length constraints before these in an Annotated, so pydantic words them for a string.
NoSurrogates = BeforeValidator(_unicode)  # they would fail at the first `.encode()`
NoControls = _refuse(_CONTROL)  # tab, line feed and carriage return are allowed
NoLineControls = _refuse(_LINE_CONTROL)  # for one-line values: a URL, a voice, a label

NonBlankText = Annotated[str, NoSurrogates, AfterValidator(_not_blank)]
# Text that is spoken: TTS engines (espeak-ng included) are C code fed C strings.
SpokenText = Annotated[str, NoSurrogates, AfterValidator(_not_blank), NoControls]


def word_count(text: str) -> int:
    return len(text.split())


def read_time_minutes(text: str) -> int:
    """Reading time of an article, from its word count (never less than a minute)."""
    return max(1, math.ceil(word_count(text) / d.WORDS_PER_MINUTE))


# --- structured summary ------------------------------------------------------


class GeneratedSummary(BaseModel):
    """The part of a structured summary the model writes; its JSON schema is the grammar."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(min_length=1, max_length=d.TITLE_MAX_CHARS)]
    main_summary: Annotated[
        str, StringConstraints(min_length=1, max_length=d.MAIN_SUMMARY_MAX_CHARS)
    ]
    key_points: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=d.KEY_POINT_MAX_CHARS)]],
        Field(min_length=1, max_length=d.KEY_POINTS_MAX_ITEMS),
    ]
    category: Category
    sentiment: Sentiment


class StructuredSummary(GeneratedSummary):
    """A summary with fields a client can render; read_time_min comes from the word count."""

    read_time_min: int = Field(ge=1)


# --- factory requests and responses -------------------------------------------


class SummarizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NonBlankText
    style: Style = "skimmer"
    max_tokens: int | None = Field(None, ge=1, le=8192, description="capped by the server")
    temperature: float = Field(d.LLM_DEFAULT_TEMPERATURE, ge=0.0, le=2.0)
    structured: bool = False
    stream: bool = False
    input_budget_tokens: int | None = Field(
        None,
        ge=0,
        le=d.LLM_MAX_INPUT_BUDGET_TOKENS,
        description="article tokens the model may read; 0 = the whole article; "
        "default: the server's FACTORY_LLM_INPUT_BUDGET_TOKENS",
    )
    input_selection: Literal["ranked", "head"] = Field(
        "ranked",
        description="over the budget: ranked = the lead, then the best sentences, in order, "
        "none cut; head = the first tokens (plain truncation)",
    )


InputApplied = Literal["off", "under_budget", "ranked", "lead", "head"]


class Timings(BaseModel):
    input_ms: float | None = Field(None, description="choosing the input within the budget")
    queue_ms: float = Field(description="time spent waiting for the model")
    time_to_first_token_ms: float | None
    generation_ms: float
    tokens_per_second: float | None


class SummarizeResponse(BaseModel):
    summary: str = Field(description="plain mode: the text; structured mode: main_summary")
    structured: StructuredSummary | None = None
    raw: str = Field(description="exactly what the model generated (the streamed tokens joined)")
    style: Style
    model: str
    demo_model: bool = Field(False, description="the bundled 135M demo model wrote this")
    inference_time_ms: float
    input_tokens: int = Field(description="article tokens that reached the model")
    # Defaults, so that a worker reads the answer of a factory older than the input budget.
    article_tokens: int | None = Field(None, description="the whole article's tokens")
    input_budget_tokens: int = Field(0, description="the budget applied; 0 = none")
    input_selection: InputApplied = Field(
        "off",
        description="off (no budget), under_budget (nothing dropped), ranked, lead (ranked "
        "by position only: the embedder was not ready) or head",
    )
    selected_sentences: int | None = Field(None, description="sentences kept (with a budget)")
    dropped_sentences: int | None = Field(None, description="sentences left out (with a budget)")
    prompt_tokens: int = Field(description="whole prompt: instructions plus article")
    output_tokens: int
    output_repaired: bool = Field(
        False,
        description="a remote model's JSON did not validate and one repair request fixed it: "
        "`raw` is the repaired answer, not the streamed tokens",
    )
    truncated: bool = Field(description="the article was cut to fit the context window")
    max_tokens: int = Field(description="output cap applied")
    finish_reason: Literal["stop", "length", "cancelled"]
    timings: Timings


def _label(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("labels must not be empty or whitespace")
    return value


Label = Annotated[
    str,
    StringConstraints(max_length=d.NER_MAX_LABEL_CHARS),
    NoSurrogates,
    NoLineControls,
    AfterValidator(_label),
]


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NonBlankText
    labels: Annotated[list[Label], Field(min_length=1, max_length=d.NER_MAX_LABELS)] = Field(
        default_factory=lambda: list(d.NER_DEFAULT_LABELS)
    )
    threshold: float = Field(d.NER_DEFAULT_THRESHOLD, ge=0.0, le=1.0)


class Entity(BaseModel):
    text: str
    label: str
    score: float
    start: int = Field(description="character offset into the text sent")
    end: int


class ExtractResponse(BaseModel):
    entities: list[Entity]
    model: str
    engine: str
    inference_time_ms: float
    chunks: int = Field(description="pieces the text was split into for the model")
    unsupported_labels: list[str] = Field(
        default_factory=list, description="labels the engine cannot produce (spaCy only)"
    )


_PERCENT = re.compile(r"^[+-]\d{1,3}%$")


def _percent(lo: int, hi: int):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if not _PERCENT.match(value) or not lo <= int(value[:-1]) <= hi:
            raise ValueError(f"must look like '+10%' or '-20%', between {lo}% and +{hi}%")
        return value

    return AfterValidator(check)


class AudioRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: SpokenText
    voice: Annotated[str, NoSurrogates, NoLineControls] | None = Field(
        None, description="an Edge-TTS voice; see GET /voices"
    )
    rate: Annotated[str, _percent(-50, 100)] = "+0%"
    volume: Annotated[str, _percent(-50, 50)] = "+0%"


class HighlightsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NonBlankText
    k: int = Field(d.HIGHLIGHTS_DEFAULT_K, ge=1, le=d.HIGHLIGHTS_MAX_K)


class Highlight(BaseModel):
    text: str = Field(description="the sentence, exactly `text[start:end]` of the text sent")
    start: int
    end: int
    score: float = Field(description="centrality blended with a position prior, 0-1")
    rank: int = Field(description="1 = best")


class Highlights(BaseModel):
    """A job's highlights, as published (`highlights` event) and stored."""

    highlights: list[Highlight] = Field(description="best first")
    sentences: int = Field(description="sentences considered")
    truncated: bool = Field(description="only the start of a long text was considered")
    model: str


class HighlightsResponse(Highlights):
    runtime: str = Field(description="onnx or torch")
    inference_time_ms: float


# --- provenance and grounding ---------------------------------------------------

ClaimText = Annotated[
    str,
    StringConstraints(max_length=d.PROVENANCE_MAX_CLAIM_CHARS),
    NoSurrogates,
    NoControls,
]


class ProvenanceRequest(BaseModel):
    """The summary's claims to check against the article they summarise."""

    model_config = ConfigDict(extra="forbid")

    text: NonBlankText = Field(description="the article")
    main_summary: ClaimText | None = Field(None, description="split into sentences, each a claim")
    key_points: Annotated[list[ClaimText], Field(max_length=d.PROVENANCE_MAX_KEY_POINTS)] = []
    sources: int = Field(
        d.PROVENANCE_DEFAULT_SOURCES,
        ge=1,
        le=d.PROVENANCE_MAX_SOURCES,
        description="supporting sentences returned per claim",
    )

    @model_validator(mode="after")
    def _some_claim(self) -> Self:
        if not (self.main_summary or "").strip() and not any(p.strip() for p in self.key_points):
            raise ValueError("give a main_summary or at least one key point to check")
        return self


class SourceSentence(BaseModel):
    text: str = Field(description="exactly `text[start:end]` of the article")
    start: int
    end: int
    similarity: float = Field(description="cosine similarity to the claim")


ClaimKind = Literal["main_summary", "key_point"]


class Claim(BaseModel):
    kind: ClaimKind
    index: int = Field(description="key point number, or sentence number in main_summary")
    text: str
    start: int | None = Field(None, description="offset in main_summary (its sentences only)")
    end: int | None = None
    support: float = Field(description="best similarity of a source sentence, 0-1")
    unsupported: bool
    reasons: list[str] = Field(
        description="why it is unsupported: low_support, unknown_number, unknown_name"
    )
    unknown_numbers: list[str] = Field(description="numbers and dates absent from the article")
    unknown_names: list[str] = Field(description="proper names absent from the article")
    sources: list[SourceSentence] = Field(description="best supporting sentences first")


class Provenance(BaseModel):
    """Every claim of a summary linked to its sources, as published and stored."""

    claims: list[Claim]
    unsupported: int = Field(description="claims flagged unsupported")
    min_support: float = Field(description="support below this flags a claim")
    model: str


class ProvenanceResponse(Provenance):
    sentences: int = Field(description="article sentences compared")
    truncated: bool = Field(description="only the start of a long article was compared")
    runtime: str
    inference_time_ms: float


# --- health ------------------------------------------------------------------

ModelState = Literal["loading", "ready", "failed", "disabled"]


class ModelStatus(BaseModel):
    name: str
    state: ModelState
    error: str | None = None
    load_seconds: float | None = None
    retry_in_s: float | None = Field(
        None, description="a model the hub could not deliver is fetched again in this long"
    )


class GateStatus(BaseModel):
    active: int
    waiting: int
    max_waiting: int
    peak_active: int
    served: int
    refused: int


class LlmBackendStatus(BaseModel):
    kind: Literal["local", "openai"] = Field(description="local GGUF, or a remote OpenAI API")
    model: str | None = None
    url: str | None = Field(None, description="the remote server's base URL")
    reachable: bool | None = Field(None, description="the remote server answered lately")
    error: str | None = Field(None, description="why it did not")
    structured_output: str | None = Field(
        None, description="how the summary's JSON is asked for: json_schema, json_object, prompt"
    )


class FactoryHealth(BaseModel):
    status: Literal["loading", "healthy", "degraded"]
    models_loaded: list[str]
    uptime_seconds: float
    llama_loaded: bool
    gliner_loaded: bool
    ner_engine: str
    tts_engine: str = Field(description="the engine tried first")
    tts_engines: list[str]
    tts_last_engine: str | None
    tts_unavailable: dict[str, str] = Field(description="configured engines that did not load")
    models: dict[str, ModelStatus]
    gates: dict[str, GateStatus]
    generations_cancelled: int
    demo_model: bool = Field(
        description="the LLM serving is the bundled 135M demo model: summaries are not reliable"
    )
    llm_source: str | None = Field(
        None, description="which GGUF serves: a file, a preset (with its hub file), a fallback"
    )
    warnings: list[str] = Field(default_factory=list, description="what a person should know")
    llm_backend: LlmBackendStatus | None = None


class FieldError(BaseModel):
    field: str = Field(description="where: the field's dotted path, or `body`")
    message: str


class ErrorBody(BaseModel):
    """Every error every service answers with."""

    error: str = Field(description="a stable machine-readable code")
    detail: str = Field(description="what was wrong, for a person")
    fields: list[FieldError] | None = Field(None, description="each invalid value (422)")
    request_id: str | None = Field(None, description="quote it to the operator (5xx only)")
