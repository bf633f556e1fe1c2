"""The public gateway API's request and response models."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.jobs import DEFAULT_TASKS, Task
from shared.schemas import Label, NoLineControls, NoSurrogates, SpokenText, Style

JobState = Literal["queued", "started", "finished", "failed"]
Url = Annotated[str, StringConstraints(max_length=2048), NoSurrogates, NoLineControls]
Voice = Annotated[str, StringConstraints(max_length=64), NoSurrogates, NoLineControls]


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    text: SpokenText | None = Field(None, description="may be narrated: no control characters")
    style: Style = "skimmer"
    tasks: list[Task] = Field(default_factory=lambda: list(DEFAULT_TASKS), min_length=1)
    labels: list[Label] | None = Field(None, min_length=1, max_length=25)
    voice: Voice | None = None
    refresh: bool = Field(False, description="run again even if a stored result exists")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.text is None):
            raise ValueError("give exactly one of url or text")
        if self.text is not None and not self.text.strip():
            raise ValueError("text must not be empty or whitespace")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks must not repeat")
        return self


class SubmitResponse(BaseModel):
    job_id: str
    status: JobState
    status_url: str
    stream_url: str
    cached: bool = Field(False, description="an identical earlier result, no new work")
    read_token: str | None = Field(
        None,
        description="with an API key set: opens this job's status, events and audio "
        "(?token=), e.g. for a browser's EventSource; the URLs above already carry it",
    )


class JobStatus(BaseModel):
    job_id: str
    status: JobState
    stage: str | None = None
    progress: float | None = None
    position: int | None = Field(None, description="place in the queue, 0 = next")
    result: dict[str, Any] | None = None
    error: str | None = None


class QueueOverview(BaseModel):
    depth: int
    workers: int
    started: int
    failed: int
    recent: list[dict[str, Any]]


class Readiness(BaseModel):
    """`/readyz`: 200 with `ready: true`, or 503 naming each dependency that fails."""

    ready: bool
    failing: dict[str, str] | None = Field(
        None, description="per dependency (redis, factory, store, workers): why it fails"
    )
