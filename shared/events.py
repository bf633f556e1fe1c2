"""The job event protocol: one JSON object per event, numbered from 1 per job."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

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
