"""What the gateway hands the worker for one job (the RQ job's only argument, as JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared import defaults as d
from shared.schemas import Style

Task = Literal["highlights", "summary", "entities", "audio"]
DEFAULT_TASKS: list[Task] = ["highlights", "summary", "entities", "audio"]


class JobRequest(BaseModel):
    text: str
    style: Style = "skimmer"
    tasks: list[Task] = Field(default_factory=lambda: list(DEFAULT_TASKS))
    labels: list[str] = Field(default_factory=lambda: list(d.NER_DEFAULT_LABELS))
    voice: str | None = None
    source_url: str | None = None
    title: str | None = None
    content_key: str
