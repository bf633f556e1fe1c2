"""Bounds on work running at once, per client and in total: beyond them, refuse at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LimitReached(Exception):
    """No slot is free; `code` says whose bound was reached."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ConcurrencyLimiter:
    """Counts slots held in this process (one event loop: no await between check and take)."""

    def __init__(self, total: int, per_client: int, what: str = "scrapes") -> None:
        self.total = total
        self.per_client = per_client
        self.what = what
        self._held: Counter[str] = Counter()
        self.in_use = 0

    @asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        if self._held[client] >= self.per_client:
            raise LimitReached(
                f"too_many_{self.what}",
                f"this client already has {self.per_client} {self.what} running; "
                "wait for one to finish",
            )
        if self.in_use >= self.total:
            raise LimitReached(
                f"{self.what}_busy", f"{self.total} {self.what} are running; try again shortly"
            )
        self._held[client] += 1
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._held[client] -= 1
            if self._held[client] <= 0:
                del self._held[client]
