"""One gate per model object: `concurrency` running at a time (one for a local model), a
bounded wait queue, then 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shared.http_errors import ApiError
from shared.schemas import GateStatus


class Ticket:
    """A place in a gate's queue. Release it exactly once, when the work is over."""

    def __init__(self, gate: ModelGate) -> None:
        self._gate = gate
        self._released = False

    @contextmanager
    def running(self) -> Iterator[None]:
        """Hold the model (blocking; call from a worker thread)."""
        with self._gate._slots:
            self._gate._enter()
            try:
                yield
            finally:
                self._gate._leave()

    def release(self) -> None:
        with self._gate._count_lock:
            if self._released:
                return
            self._released = True
            self._gate._admitted -= 1


class ModelGate:
    """Admits at most `concurrency` running requests plus `max_waiting` queued ones."""

    def __init__(
        self, name: str, max_waiting: int, retry_after_s: int, concurrency: int = 1
    ) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._count_lock = threading.Lock()
        self._admitted = 0
        self._active = 0
        self._peak_active = 0
        self._served = 0
        self._refused = 0
        self._closed = False

    def admit(self) -> Ticket:
        with self._count_lock:
            if self._closed:
                raise ApiError(503, "shutting_down", "the server is shutting down", retry_after=1)
            if self._admitted >= self.concurrency + self.max_waiting:
                self._refused += 1
                raise ApiError(
                    429,
                    "busy",
                    f"the {self.name} model is busy: {self.concurrency} running and "
                    f"{self.max_waiting} waiting",
                    retry_after=self.retry_after_s,
                )
            self._admitted += 1
            return Ticket(self)

    def close(self, timeout: float) -> bool:
        """Refuse new work and wait for the running ones; True once the model is free for good."""
        with self._count_lock:
            self._closed = True
        deadline = time.monotonic() + timeout
        for _ in range(self.concurrency):
            if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
        return True

    def _enter(self) -> None:
        with self._count_lock:
            self._active += 1
            self._peak_active = max(self._peak_active, self._active)

    def _leave(self) -> None:
        with self._count_lock:
            self._active -= 1
            self._served += 1

    def status(self) -> GateStatus:
        with self._count_lock:
            return GateStatus(
                active=self._active,
                waiting=self._admitted - self._active,
                max_waiting=self.max_waiting,
                peak_active=self._peak_active,
                served=self._served,
                refused=self._refused,
            )
