"""One generation on a worker thread, its pieces handed to the event loop as they come."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable

from factory.backend import LlmBackend
from factory.gate import Ticket
from factory.llm import Generation, Prompt

_END = object()


class LiveGeneration:
    """Set `stop` to end the generation early (client gone); the model is freed at once."""

    def __init__(
        self,
        summarizer: LlmBackend,
        ticket: Ticket,
        prompt: Prompt,
        max_tokens: int,
        temperature: float,
        structured: bool,
        on_finish: Callable[[Generation], None],
    ) -> None:
        self.summarizer = summarizer
        self.ticket = ticket
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.structured = structured
        self.on_finish = on_finish
        self.stop = threading.Event()
        self.run = Generation()
        self.queue_ms = 0.0
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name="generation", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _work(self) -> None:
        admitted = time.perf_counter()
        try:
            with self.ticket.running():
                self.queue_ms = (time.perf_counter() - admitted) * 1000
                if self.stop.is_set():
                    self.run.finish_reason = "cancelled"
                    return
                pieces = self.summarizer.generate(
                    self.prompt,
                    self.max_tokens,
                    self.temperature,
                    self.structured,
                    self.stop,
                    self.run,
                )
                for piece in pieces:
                    self._put(piece)
        except Exception as exc:  # handed to the request that owns this generation
            self._put(exc)
        finally:
            self.ticket.release()
            self.on_finish(self.run)
            self._put(_END)

    async def pieces(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
