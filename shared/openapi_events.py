"""A Server-Sent Events stream in an OpenAPI document: its events listed, and one
`components/schemas` entry per event and per event's data.

A stream is declared as OpenAPI 3.2 declares Server-Sent Events (section 4.14.4), and as
FastAPI's own SSE responses do: each event an object of `event`, `id` and `data`, `data` a
JSON string whose `contentSchema` is that event's data schema. Our documents are 3.1, where
a media type has no `itemSchema` (a validator refuses it), so the item schema goes under
`x-itemSchema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from shared import openapi

REF = openapi.REF_TEMPLATE.format


@dataclass(frozen=True)
class Event:
    """One event type: when it comes, and the model of its data (or a choice of models)."""

    when: str
    data: tuple[type[BaseModel], ...]


@dataclass(frozen=True)
class EventStream:
    item: str  # the component naming one event of the stream, e.g. `JobStreamEvent`
    events: dict[str, Event]
    id_description: str
    example: list[tuple[str, dict[str, Any]]]
    headers: dict[str, Any] = field(default_factory=dict)

    def data_name(self, kind: str) -> str:
        models = self.events[kind].data
        return models[0].__name__ if len(models) == 1 else f"{kind.capitalize()}Data"

    @staticmethod
    def event_name(kind: str) -> str:
        return f"{kind.capitalize()}Event"

    def components(self) -> dict[str, Any]:
        """Every event data model, an `<Type>Event` item per event type, and their union."""
        schemas = openapi.component_schemas(*(m for e in self.events.values() for m in e.data))
        for kind, event in self.events.items():
            name = self.data_name(kind)
            if name not in schemas:  # a choice of models
                schemas[name] = {"anyOf": [{"$ref": REF(model=m.__name__)} for m in event.data]}
            schemas[self.event_name(kind)] = {
                "type": "object",
                "description": f"`{kind}`: {event.when}.",
                "required": ["event", "id", "data"],
                "properties": {
                    "event": {"const": kind},
                    "id": {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": self.id_description,
                    },
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": REF(model=name)},
                    },
                },
            }
        schemas[self.item] = {
            "description": "One event of the stream (an SSE `event:`, `id:` and `data:`).",
            "oneOf": [{"$ref": REF(model=self.event_name(k))} for k in self.events],
            "discriminator": {
                "propertyName": "event",
                "mapping": {k: REF(model=self.event_name(k)) for k in self.events},
            },
        }
        return schemas

    def response(self, description: str) -> dict[str, Any]:
        """A `responses=` entry for a 200 that is this stream."""
        rows = [f"| `{k}` | {e.when} | `{self.data_name(k)}` |" for k, e in self.events.items()]
        table = "\n".join(["| event | when | data |", "|---|---|---|", *rows])
        example = "".join(
            f"event: {kind}\nid: {seq}\ndata: {json.dumps(data)}\n\n"
            for seq, (kind, data) in enumerate(self.example, 1)
        )
        return {
            "description": f"{description}\n\n{table}\n\nKeep-alive comments (`: ping`) "
            "come between events.",
            "headers": self.headers,
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "Server-Sent Events"},
                    "x-itemSchema": {"$ref": REF(model=self.item)},
                    "example": example,
                }
            },
        }
