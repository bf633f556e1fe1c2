"""Reading Server-Sent Events as a browser does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar


class _Event(Protocol):
    @property
    def data(self) -> str: ...


E = TypeVar("E", bound=_Event)


def dispatched(events: Iterable[E]) -> Iterator[E]:
    """The events a browser would dispatch.

    Once an event carried an `id:`, httpx-sse yields an empty event for the blank line that
    ends every keep-alive comment (`: ping`); the SSE spec drops an event with no data.
    """
    return (event for event in events if event.data)
