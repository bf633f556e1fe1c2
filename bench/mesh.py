"""Mesh benchmark: the factory's own stream vs the whole mesh (gateway -> RQ -> worker ->
factory -> Redis -> SSE at the client), SSE fan-out, and status polling. One run, one
machine, figures and ratios; appends a section to bench/RESULTS.md. Run: `make bench-mesh`.

The mesh forwards the summary's `main_summary` text as it is generated, so both sides are
measured on that: time from the request to its first character, and pieces per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import factory as fb  # noqa: E402
from bench.results import replace_section  # noqa: E402
from factory import offline  # noqa: E402
from shared.eventlog import EventPublisher  # noqa: E402
from tests.redis_fixtures import RedisServer  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402
from worker.fields import StringFieldStream  # noqa: E402


def factory_summary(client: httpx.Client, text: str) -> Any:
    """The factory's structured stream, timed on main_summary's characters."""
    body = {"text": text, "style": "skimmer", "structured": True, "stream": True}
    field = StringFieldStream("main_summary")
    watch = fb.Stopwatch()
    with client.stream("POST", "/summarize", json=body) as r:
        r.raise_for_status()
        for event, data in fb._sse_lines(r):
            if event == "token" and field.feed(json.loads(data)["text"]):
                watch.token()
            elif event in ("done", "error") or field.done:
                break
    return watch.run()


def mesh_summary(client: httpx.Client, text: str) -> tuple[Any, float]:
    """POST /queue, then the job's SSE tokens at the client. Also returns the mesh's own
    share of the time to first text: the client's wait minus the worker's wait on the
    factory for the same job (prompt evaluation is the same work either way)."""
    watch = fb.Stopwatch()
    r = client.post("/queue", json={"text": text, "tasks": ["summary"], "refresh": True})
    r.raise_for_status()
    factory_first = None
    with client.stream("GET", r.json()["stream_url"]) as events:
        for event, data in fb._sse_lines(events):
            if event == "token":
                watch.token()
            elif event == "done":
                factory_first = json.loads(data)["timings"]["factory_first_text_ms"]
                break
            elif event == "error":
                break
    run = watch.run(end_at_last_token=True)
    return run, run.ttft_ms - (factory_first or 0.0)


async def fan_out(base: str, redis_url: str, clients: int, events: int) -> list[float]:
    """Delays (ms) from publish to each client, for `events` events on one job."""
    job_id = f"bench-{uuid.uuid4().hex}"
    sync = redis.Redis.from_url(redis_url)
    pub = EventPublisher(sync)
    pub.publish(job_id, "status", {"stage": "summarizing", "t": time.time()})
    delays: list[float] = []
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        connected = 0
        all_connected = asyncio.Event()

        async def listen() -> None:
            nonlocal connected
            async with client.stream("GET", f"/queue/{job_id}/events") as r:
                connected += 1
                if connected == clients:
                    all_connected.set()
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        data = json.loads(line[5:])
                        if "sent" in data:
                            delays.append((time.time() - data["sent"]) * 1000)
                        if data.get("last"):
                            return

        tasks = [asyncio.create_task(listen()) for _ in range(clients)]
        await asyncio.wait_for(all_connected.wait(), 120)
        await asyncio.sleep(0.5)
        for i in range(events):
            last = i == events - 1
            payload = {"sent": time.time(), "last": last}
            await asyncio.to_thread(pub.publish, job_id, "done" if last else "token", payload)
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    sync.close()
    return delays


async def polling_rate(base: str, job_id: str, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                (await client.get(f"/queue/{job_id}")).raise_for_status()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


def polling_rate_wrk(url: str, seconds: int, connections: int) -> float | None:
    """The same load from wrk (Debian package `wrk`), whose client costs far less CPU."""
    if shutil.which("wrk") is None:
        return None
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pulse-mesh-"))
    # A private Redis on a free port: the bench never touches anyone's data on 6379.
    own_redis = RedisServer(tmp / "redis").start()
    redis_url = own_redis.db(0)
    fport, gport = free_port(), free_port()
    factory_url, gateway_url = f"http://127.0.0.1:{fport}", f"http://127.0.0.1:{gport}"
    store = {"STORE_SQLITE_PATH": str(tmp / "db"), "STORE_AUDIO_DIR": str(tmp / "audio")}
    factory_env = {
        "HF_HUB_OFFLINE": "1",
        "FACTORY_PORT": str(fport),
        "FACTORY_LLM_MODEL_PATH": str(offline.smollm2_gguf()),
        "FACTORY_EMBEDDING_MODEL": str(offline.minilm_dir()),
        "FACTORY_NER_ENGINE": "spacy",
        "FACTORY_TTS_ENGINES": '["piper"]',
    }
    worker_env = {**store, "WORKER_REDIS_URL": redis_url, "WORKER_FACTORY_URL": factory_url}
    gateway_env = {
        **store,
        "GATEWAY_PORT": str(gport),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FACTORY_URL": factory_url,
        "GATEWAY_SUBMISSIONS_PER_MINUTE": "100000",
        "GATEWAY_MIN_WORDS": "1",
    }
    py = sys.executable
    text = fb.article_text()
    editions = [f"Edition {i}.\n{text}" for i in range(2 * args.rounds + 2)]
    with (
        fb.process([py, "-m", "factory"], factory_env, f"{factory_url}/readyz"),
        fb.process([py, "-m", "gateway"], gateway_env, f"{gateway_url}/health"),
        fb.process([py, "-m", "worker"], worker_env, f"{gateway_url}/health"),
        httpx.Client(base_url=factory_url, timeout=600) as fc,
        httpx.Client(base_url=gateway_url, timeout=600) as gc,
    ):
        wait_until(lambda: gc.get("/queue").json()["workers"] >= 1, timeout=60)
        factory_summary(fc, editions[-1]), mesh_summary(gc, editions[-2])  # warm up
        fac, mesh, overhead = [], [], []
        for i in range(args.rounds):
            fac.append(factory_summary(fc, editions[2 * i]))
            run, added_ms = mesh_summary(gc, editions[2 * i + 1])
            mesh.append(run)
            overhead.append(added_ms)
            print(
                f"round {i + 1}: factory {fac[-1].tok_s:.1f}/s ttft {fac[-1].ttft_ms:.0f} ms;"
                f" mesh {mesh[-1].tok_s:.1f}/s ttft {mesh[-1].ttft_ms:.0f} ms",
                flush=True,
            )
        delays = asyncio.run(fan_out(gateway_url, redis_url, args.clients, 50))
        job_id = gc.post("/queue", json={"text": text, "tasks": ["entities"]}).json()["job_id"]
        wait_until(lambda: gc.get(f"/queue/{job_id}").json()["status"] == "finished")
        rate = asyncio.run(polling_rate(gateway_url, job_id, 8.0, 32))
        wrk_rate = polling_rate_wrk(f"{gateway_url}/queue/{job_id}", 8, 32)
    own_redis.stop()

    ratio = statistics.median(m.tok_s / f.tok_s for m, f in zip(mesh, fac, strict=True))
    naive = statistics.median(m.ttft_ms - f.ttft_ms for m, f in zip(mesh, fac, strict=True))
    added = statistics.median(overhead)
    p50, p99 = pct(delays, 0.5), pct(delays, 0.99)
    section = "\n".join(
        [
            "",
            "# Mesh benchmark",
            "",
            f"Machine: {fb.machine()}. Factory, one RQ worker and the gateway (one uvicorn "
            "process) on this machine with Redis; SmolLM2-135M, structured summaries; "
            f"{args.rounds} interleaved rounds. Regenerate with `make bench-mesh`.",
            "",
            "| path | main_summary pieces/s | time to first summary character (ms) |",
            "|---|---|---|",
            f"| factory `/summarize` stream | {fb.median(fac, 'tok_s'):.1f} | "
            f"{fb.median(fac, 'ttft_ms'):.0f} |",
            f"| mesh: POST /queue -> SSE at the client | {fb.median(mesh, 'tok_s'):.1f} | "
            f"{fb.median(mesh, 'ttft_ms'):.0f} |",
            "",
            "| figure | value | target | verdict |",
            "|---|---|---|---|",
            f"| mesh / factory pieces/s | {ratio:.2f}x | >= 0.95x | {fb._verdict(ratio, 0.95)} |",
            f"| mesh's own added time to first character (client wait - worker's wait on the "
            f"factory, same job) | {added:+.0f} ms | <= +50 ms | "
            f"{fb._verdict(added, 50, higher_is_better=False)} |",
            f"| mesh - factory time to first character, separate requests (noisy) | "
            f"{naive:+.0f} ms | | |",
            f"| fan-out, {args.clients} SSE clients on one job: events received | "
            f"{len(delays)} of {args.clients * 50} | all | "
            f"{'met' if len(delays) == args.clients * 50 else 'missed'} |",
            f"| fan-out publish -> client p50 | {p50:.1f} ms | | |",
            f"| fan-out p99 | {p99:.1f} ms | <= 50 ms | "
            f"{fb._verdict(p99, 50, higher_is_better=False)} |",
            f"| `GET /queue/{{id}}`, one uvicorn process, 32 connections, Python client | "
            f"{rate:.0f} req/s | | |",
            "| the same with wrk as the client | "
            + (
                f"{wrk_rate:.0f} req/s | >= 1,000 | {fb._verdict(wrk_rate, 1000)} |"
                if wrk_rate is not None
                else "wrk not installed | >= 1,000 | not measured |"
            ),
            "",
            "The mesh's time to first character includes queueing, the worker's fork and its "
            "connection to the factory; the raw llama-cpp-python baseline for the same model is "
            "in the factory benchmark above. The Python load generator shares the 2 cores "
            "with the gateway and bounds its own figure; wrk (`apt-get install wrk`) "
            "measures the gateway itself.",
            "",
        ]
    )
    replace_section(args.out, "# Mesh benchmark", section)
    print(section)


if __name__ == "__main__":
    main()
