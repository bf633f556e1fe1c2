"""Which LLM the factory serves (a demo model or a real one), watched in the background so
that `/health` can say so without touching anything."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import httpx

WATCH_EVERY_S = 30.0
UNTIL_SEEN_S = 2.0  # while the factory is unreachable or loading its LLM


@dataclass
class FactoryModel:
    demo: bool | None = None  # None: not known yet (the factory not reached, or loading)
    source: str | None = None


async def watch(http: httpx.AsyncClient, factory_url: str, seen: FactoryModel) -> None:
    """Read the factory's `/health` every UNTIL_SEEN_S until its LLM is ready, then every
    WATCH_EVERY_S; a miss keeps what was seen."""
    while True:
        try:
            body = (await http.get(f"{factory_url}/health")).json()
            if body["models"]["llm"]["state"] == "ready":
                seen.demo, seen.source = bool(body.get("demo_model")), body.get("llm_source")
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        await anyio.sleep(UNTIL_SEEN_S if seen.demo is None else WATCH_EVERY_S)
