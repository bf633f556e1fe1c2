"""Faults injected for real: a private redis-server per test (stopped, restarted, with or
without its append-only file), `python -m worker` processes (SIGKILLed with their work
horse), the gateway on loopback and a SQLite store in the test's directory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from shared import redis_names as names
from shared.events import JobEvent
from shared.settings import GatewaySettings, StoreSettings
from tests.redis_fixtures import RedisServer
from tests.servers import serve, wait_until

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_TTL_S = 6  # the workers' heartbeat TTL in these tests (WORKER_HEARTBEAT_TTL_S)
TEXT = " ".join(f"word{i}" for i in range(40))


@dataclass
class Pace:
    words: int = 20
    seconds_per_word: float = 0.01


def held_factory(pace: Pace) -> Starlette:
    """A stand-in for the factory, used only to hold a job mid-summary for as long as a
    test needs (the real model's pace cannot be chosen): `POST /summarize` streams the
    structured summary's JSON one word every `pace.seconds_per_word`, then `done`, as the
    factory's streaming contract says (worker/factory_client.py)."""

    async def summarize(request: Request) -> Response:
        await request.json()
        words, delay = pace.words, pace.seconds_per_word

        async def events() -> AsyncIterator[str]:
            pieces = ['{"title": "Held", "main_summary": "']
            pieces += [f"w{i} " for i in range(words)]
            pieces += ['", "key_points": ["k"], "category": "technology", "sentiment": "neutral"}']
            for piece in pieces:
                yield f"event: token\ndata: {json.dumps({'text': piece})}\n\n"
                await asyncio.sleep(delay)
            structured = {
                "title": "Held",
                "main_summary": "A summary held for as long as the test needed.",
                "key_points": ["k"],
                "category": "technology",
                "sentiment": "neutral",
                "read_time_min": 1,
            }
            done = {
                "summary": structured["main_summary"],
                "structured": structured,
                "raw": "".join(pieces),
                "style": "skimmer",
                "model": "held-stand-in",
                "inference_time_ms": 1.0,
                "input_tokens": 40,
                "prompt_tokens": 60,
                "output_tokens": len(pieces),
                "truncated": False,
                "max_tokens": 768,
                "finish_reason": "stop",
                "timings": {
                    "queue_ms": 0.0,
                    "time_to_first_token_ms": 1.0,
                    "generation_ms": 1.0,
                    "tokens_per_second": 1.0,
                },
            }
            yield f"event: done\ndata: {json.dumps(done)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[
            Route("/summarize", summarize, methods=["POST"]),
            Route("/readyz", ready),
            Route("/health", ready),
        ]
    )


@dataclass
class Mesh:
    redis: RedisServer
    pace: Pace
    gateway: str
    factory_url: str
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=5)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WORKER_REDIS_URL": self.redis.url,
            "WORKER_FACTORY_URL": self.factory_url,
            "WORKER_RETRY_ATTEMPTS": "2",
            "WORKER_RETRY_MAX_WAIT_S": "1",
            "WORKER_HEARTBEAT_TTL_S": str(HEARTBEAT_TTL_S),
            "STORE_BACKEND": "sqlite",
            "STORE_SQLITE_PATH": str(self.tmp / "pulse.sqlite3"),
            "STORE_AUDIO_DIR": str(self.tmp / "audio"),
            **extra,
        }

    def start_worker(self, **extra: str) -> subprocess.Popen[bytes]:
        """`python -m worker`, registered on the queue when this returns."""
        before = self.live_worker_pids()
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=self.tmp,  # no developer's .env
            env=self.env(**extra),
            stdout=log,
            stderr=log,
        )
        self.workers.append(proc)
        wait_until(lambda: proc.pid in self.live_worker_pids() - before, timeout=60)
        return proc

    def live_worker_pids(self) -> set[int]:
        r = self.client
        try:
            keys = r.smembers(f"rq:workers:{names.QUEUE}")
            pids = {r.hget(k, "pid") for k in keys}
            return {int(p) for p in pids if p}
        except redis.RedisError:
            return set()
        finally:
            r.close()

    def submit(self, words: int, seconds_per_word: float) -> str:
        self.pace.words, self.pace.seconds_per_word = words, seconds_per_word
        body = {"text": TEXT, "tasks": ["summary"], "refresh": True}
        r = httpx.post(f"{self.gateway}/queue", json=body, timeout=30)
        assert r.status_code == 202, r.text
        return str(r.json()["job_id"])

    def status(self, job_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.gateway}/queue/{job_id}", timeout=30)
        return {"http": r.status_code, **r.json()}

    def ended(self, job_id: str, timeout: float) -> dict[str, Any]:
        """The job's status once finished or failed; fails with the last one seen."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status.get("status") in ("finished", "failed"):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not over within {timeout}s: {status}")
            time.sleep(0.2)

    def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        """What a reader resuming with `Last-Event-ID: after` is owed (the replay log)."""
        r = self.client
        try:
            entries = r.xrange(names.events_log(job_id))
        except redis.RedisError:
            return []
        finally:
            r.close()
        events = [JobEvent.model_validate_json(fields[b"e"]) for _, fields in entries]
        return [e for e in events if e.seq > after]

    def tokens_flowing(self, job_id: str, count: int) -> int:
        """Wait until the job streamed `count` tokens; the last event number seen."""

        def seen() -> int | None:
            events = self.events(job_id)
            tokens = [e for e in events if e.type == "token"]
            return max(e.seq for e in events) if len(tokens) >= count else None

        return int(wait_until(seen, timeout=60, interval=0.05))

    def readyz(self) -> tuple[int, dict[str, Any]]:
        r = httpx.get(f"{self.gateway}/readyz", timeout=30)
        return r.status_code, r.json()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-8000:]}"
            for p in sorted(self.tmp.glob("worker-*.log"))
        )


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (a worker's work horse)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def fault_mesh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mesh]:
    """Everything but the workers, which each test starts; `appendonly` comes from the
    test's parameter (indirect) and defaults to off."""
    appendonly = bool(getattr(request, "param", False))
    server = RedisServer(tmp_path / "redis", appendonly=appendonly).start()
    pace = Pace()
    store = StoreSettings(
        _env_file=None,  # type: ignore[call-arg]
        backend="sqlite",
        sqlite_path=tmp_path / "pulse.sqlite3",
        audio_dir=tmp_path / "audio",
    )
    try:
        with serve(held_factory(pace)) as factory_url:
            settings = GatewaySettings(
                _env_file=None,  # type: ignore[call-arg]
                redis_url=server.url,
                factory_url=factory_url,
                min_words=5,
                submissions_per_minute=1000,
                store=store,
            )
            with serve(create_app(settings)) as gateway_url:
                m = Mesh(server, pace, gateway_url, factory_url, tmp_path)
                try:
                    yield m
                finally:
                    horses = [c for w in m.workers for c in children(w.pid)]
                    for proc in m.workers:
                        stop(proc)
                    for pid in horses:
                        with suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    print(m.logs())  # shown when the test failed
    finally:
        server.stop()
