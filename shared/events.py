"""The job event protocol: one JSON object per event, numbered from 1 per job, and the
payload (`data`) each event type carries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.schemas import (
    Entity,
    Highlight,
    Highlights,
    InputApplied,
    Provenance,
    StructuredSummary,
)

EventType = Literal[
    "status", "highlights", "token", "summary", "provenance", "entities", "audio", "error", "done"
]
TERMINAL: frozenset[str] = frozenset({"done", "error"})
Stage = Literal[
    "queued", "highlighting", "summarizing", "grounding", "entities", "audio", "storing", "done"
]


class JobEvent(BaseModel):
    """`seq` is the SSE `id:`, `type` the SSE `event:`; `data` is the payload."""

    seq: int
    type: EventType
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


# --- what each event's `data` holds ------------------------------------------------


class StatusData(BaseModel):
    """`status`: the job entered a stage."""

    stage: Stage
    progress: float = Field(ge=0, le=1)


class HighlightsFailed(BaseModel):
    """`highlights` when they could not be found (the job goes on without them)."""

    highlights: list[Highlight] = Field(max_length=0)
    error: str = Field(description="why, e.g. `failed: the text does not look like prose`")


class TokenData(BaseModel):
    """`token`: the next piece of the summary's text, to append."""

    text: str


class EntitiesData(BaseModel):
    entities: list[Entity]


class AudioData(BaseModel):
    """`audio`: the narration is ready at `url`."""

    url: str = Field(description="GET it like the job's status (the same key or read token)")
    bytes: int = Field(ge=0)
    engine: str = Field(description="the TTS engine that spoke it")


class ErrorData(BaseModel):
    """`error`: the job failed, or its events were lost; the stream ends."""

    error: str = Field(description="a code: job_failed, events_lost, JobLost, an error type")
    detail: str


class DoneTimings(BaseModel):
    highlights_ms: float | None = Field(description="job start to highlights published")
    factory_first_text_ms: float | None = Field(description="summary asked to first text")


class SummaryInput(BaseModel):
    """What the summary read of the article (the input budget's work)."""

    article_tokens: int | None
    input_tokens: int
    prompt_tokens: int
    output_tokens: int
    input_budget_tokens: int
    input_selection: InputApplied
    selected_sentences: int | None
    dropped_sentences: int | None
    truncated: bool


class SummaryModel(BaseModel):
    name: str
    demo: bool = Field(description="the bundled demo model wrote the summary")


class DoneData(BaseModel):
    """`done`: the job finished; the stream ends. `timings`, `input` and `model` come
    with a stream followed live (not one made from a stored result)."""

    status: Literal["finished"]
    outcomes: dict[str, str] = Field(description="per task: `ok` or `failed: <reason>`")
    timings: DoneTimings | None = None
    input: SummaryInput | None = None
    model: SummaryModel | None = None


# The model of each event type's `data` (`highlights`: either of two).
EVENT_DATA: dict[EventType, tuple[type[BaseModel], ...]] = {
    "status": (StatusData,),
    "highlights": (Highlights, HighlightsFailed),
    "token": (TokenData,),
    "summary": (StructuredSummary,),
    "provenance": (Provenance,),
    "entities": (EntitiesData,),
    "audio": (AudioData,),
    "error": (ErrorData,),
    "done": (DoneData,),
}
