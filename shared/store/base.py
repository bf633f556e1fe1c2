"""What the store keeps for a job, and the interface every backend implements."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from shared.jobs import Task
from shared.schemas import Entity, Highlights, Provenance, StructuredSummary


def content_key(text: str, style: str, tasks: list[str], options: dict[str, object]) -> str:
    """Same article text, style, tasks and options -> same key (for skipping repeated work)."""
    canonical = json.dumps(
        {
            "text": " ".join(text.split()),
            "style": style,
            "tasks": sorted(tasks),
            "options": options,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class StoredResult(BaseModel):
    job_id: str
    content_key: str
    status: Literal["finished", "failed"]
    style: str
    tasks: list[Task]
    source_url: str | None = None
    title: str | None = None
    highlights: Highlights | None = None
    summary: StructuredSummary | None = None
    provenance: Provenance | None = None
    entities: list[Entity] | None = None
    has_audio: bool = False
    outcomes: dict[str, str] = Field(
        default_factory=dict, description="per task: 'ok', 'skipped' or 'failed: <reason>'"
    )
    error: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class StoreError(Exception):
    """The store could not be reached or refused the operation."""


class ResultStore(Protocol):
    """Durable results. Every backend passes the same contract tests."""

    name: str

    def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def save(self, result: StoredResult, audio: bytes | None = None) -> None:
        """Insert or replace the result (and its MP3) of a job."""

    def get(self, job_id: str) -> StoredResult | None: ...

    def find(self, key: str) -> StoredResult | None:
        """The newest finished result with this content key."""

    def audio(self, job_id: str) -> bytes | None: ...

    def recent(self, limit: int) -> list[StoredResult]: ...

    def close(self) -> None: ...
