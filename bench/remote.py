"""Remote-mode benchmark: the factory with FACTORY_LLM_BACKEND=openai in front of an
OpenAI-compatible server vs calling that same server directly.

Each upstream (llama-cpp-python's `llama_cpp.server`, and llama.cpp's C++ `llama-server` when
`make llama-server` has built it) serves the bundled SmolLM2 on loopback. Every round streams
the same article (numbered per round, so no prompt is fully cached) once through the factory's
`/summarize` (SSE) and once straight to the server's `/v1/chat/completions` with the body the
factory sends (same messages, max_tokens, temperature, extra body; in structured mode the
same `response_format` JSON schema), the order alternating per round. The tokens/s ratio and
the time-to-first-token difference are medians of per-round pairs. Run with
`make bench-remote`; it rewrites its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.factory import (  # noqa: E402
    MAX_TOKENS,
    N_CTX,
    THREADS,
    Run,
    Stopwatch,
    _sse_lines,
    _verdict,
    article_text,
    machine,
    median,
    offline_factory_env,
    paired,
    process,
)
from bench.factory import factory_run as factory_stream  # noqa: E402
from bench.results import replace_section  # noqa: E402
from factory import offline, prompts  # noqa: E402
from factory.remote_llm import response_format  # noqa: E402
from shared.schemas import GeneratedSummary  # noqa: E402
from shared.settings import RemoteStructured  # noqa: E402
from tests import llama_server  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

MODEL = llama_server.LLAMA_SERVER_MODEL
# Sent by the factory (FACTORY_LLM_REMOTE_EXTRA_BODY) and by the direct calls alike: the
# repeat penalty bench/factory.py uses, so figures compare with its local ones.
EXTRA_BODY = {"repeat_penalty": 1.1}
# Structured answers get room to close their JSON (the schema bounds every field): one cut at
# MAX_TOKENS would not validate and the factory would send its repair request after it.
STRUCTURED_MAX_TOKENS = 768


def max_tokens(structured: bool) -> int:
    return STRUCTURED_MAX_TOKENS if structured else MAX_TOKENS


def factory_run(client: httpx.Client, text: str, structured: bool = False) -> Run:
    """The factory's `/summarize` stream; timed to its last token, as the direct call is."""
    return factory_stream(
        client, text, structured, max_tokens(structured), strict=True, end_at_last_token=True
    )


SCHEMA = GeneratedSummary.model_json_schema()  # what the factory puts in response_format
FORMS: defaultdict[Any, RemoteStructured] = defaultdict(lambda: "json_schema")


def direct_run(client: httpx.Client, text: str, structured: bool = False) -> Run:
    """A streamed chat completion straight to the server, with the factory's request body."""
    body: dict[str, Any] = {
        **EXTRA_BODY,
        "model": MODEL,
        "messages": prompts.messages("skimmer", structured, text),
        "max_tokens": max_tokens(structured),
        "temperature": 0.0,
        "stream_options": {"include_usage": True},
        "stream": True,
    }
    if structured:
        body["response_format"] = response_format(FORMS[client.base_url], SCHEMA)
    watch = Stopwatch()
    prompt_tokens = 0
    with client.stream("POST", "/chat/completions", json=body) as r:
        if structured and r.status_code >= 400 and FORMS[client.base_url] == "json_schema":
            # The factory's rule (factory/openai_api.py): 400/422, or a 5xx naming the field,
            # as llama_cpp.server answers json_schema (it knows json_object with a schema).
            detail = r.read().decode(errors="replace")
            if r.status_code in (400, 422) or "response_format" in detail:
                FORMS[client.base_url] = "json_object"
                return direct_run(client, text, structured)
        r.raise_for_status()
        for _, data in _sse_lines(r):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                watch.token()
            usage = chunk.get("usage")
            if usage:
                prompt_tokens = usage.get("prompt_tokens") or 0
    return watch.run(end_at_last_token=True, prompt_tokens=prompt_tokens)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def llama_cpp_server(gguf: Path, threads: int) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; yields its .../v1 base URL.
    `--interrupt_requests False`: otherwise it cuts a stream short when another request waits."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--n_ctx", str(N_CTX), "--n_threads", str(threads), "--interrupt_requests", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until(lambda: proc.poll() is not None or _answers(f"{base}/models"), timeout=300)
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({' '.join(cmd)})")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@contextmanager
def upstream(name: str, gguf: Path, threads: int) -> Iterator[str]:
    if name == "llama_cpp.server":
        with llama_cpp_server(gguf, threads) as url:
            yield url
    else:
        with llama_server.running(gguf, threads, N_CTX) as server:
            yield server.url


def measure(name: str, threads: int, rounds: int) -> dict[str, Any]:
    gguf = offline.smollm2_gguf()
    article = article_text()
    # Each side its own edition (same length): the two share one server, whose prompt cache
    # would otherwise hand the second of a pair the first one's whole prompt.
    editions = [f"Edition {i:02d}.\n{article}" for i in range(2 * rounds + 4)]
    port = free_port()
    with upstream(name, gguf, threads) as url:
        env = {
            **offline_factory_env(port),
            "FACTORY_LLM_BACKEND": "openai",
            "FACTORY_LLM_REMOTE_URL": url,
            "FACTORY_LLM_REMOTE_MODEL": MODEL,
            "FACTORY_LLM_REMOTE_CONTEXT_TOKENS": str(N_CTX),
            "FACTORY_LLM_REMOTE_EXTRA_BODY": json.dumps(EXTRA_BODY),
        }
        with (
            process([sys.executable, "-m", "factory"], env, f"http://127.0.0.1:{port}/readyz"),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as fc,
            httpx.Client(base_url=url, timeout=600) as dc,
        ):
            for structured in (False, True):  # warm both paths and the server's prefix cache
                factory_run(fc, editions[-1], structured), direct_run(dc, editions[-1], structured)
            fac, direct, fac_s, direct_s = [], [], [], []
            for i in range(rounds):
                mine, theirs = editions[2 * i], editions[2 * i + 1]
                for structured, f_runs, d_runs in ((False, fac, direct), (True, fac_s, direct_s)):
                    if i % 2 == 0:  # alternate who goes first: neither gets a warmer machine
                        f_runs.append(factory_run(fc, mine, structured))
                        d_runs.append(direct_run(dc, theirs, structured))
                    else:
                        d_runs.append(direct_run(dc, mine, structured))
                        f_runs.append(factory_run(fc, theirs, structured))
                print(
                    f"{name}, {threads} threads, round {i + 1}/{rounds}: factory "
                    f"{fac[-1].tok_s:.1f} tok/s vs direct {direct[-1].tok_s:.1f}; structured "
                    f"{fac_s[-1].tok_s:.1f} vs {direct_s[-1].tok_s:.1f}",
                    flush=True,
                )
            form = FORMS[dc.base_url]
    return {
        "name": name,
        "threads": threads,
        "free": (fac, direct),
        "structured": (fac_s, direct_s),
        "form": form,
    }


def section(res: dict[str, Any]) -> list[str]:
    lines = [
        f"## Remote mode in front of `{res['name']}`, {res['threads']} llama.cpp thread(s)",
        "",
        "| system | tokens/s | time to first token (ms) | total (ms) | tokens | prompt tokens |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for mode in ("free", "structured"):
        fac, direct = res[mode]
        form = "`json_schema`" if res["form"] == "json_schema" else "`json_object` + schema"
        label = "plain" if mode == "free" else f"structured (`response_format` {form})"
        reported = median(direct, "prompt_tokens") > 0  # llama_cpp.server streams no usage
        for who, runs in (("factory remote mode, `/summarize` SSE", fac), ("direct", direct)):
            shown = f"{median(runs, 'prompt_tokens'):.0f}" if reported else "not reported"
            lines.append(
                f"| {who}, {label} | {median(runs, 'tok_s'):.1f} | {median(runs, 'ttft_ms'):.0f} "
                f"| {median(runs, 'total_ms'):.0f} | {median(runs, 'tokens'):.0f} | {shown} |"
            )
        ratio = paired(fac, direct, "tok_s", lambda a, b: a / b)
        extra = paired(fac, direct, "ttft_ms", lambda a, b: a - b)
        ratios += [
            f"| factory / direct tokens/s, {label} | {ratio:.2f}x | >= 0.95x | "
            f"{_verdict(ratio, 0.95)} |",
            f"| factory - direct time to first token, {label} | {extra:+.0f} ms | <= +50 ms | "
            f"{_verdict(extra, 50, higher_is_better=False)} |",
        ]
    return [
        *lines,
        "",
        "| ratio | value | target | verdict |",
        "|---|---|---|---|",
        *ratios,
        "",
    ]


TTFT_NOTE = (
    "Time to first token: prompt evaluation runs on both cores (llama-cpp-python's and "
    "llama-server's default batch threads), so other work stalls it (idle, this prompt takes "
    "~3 s); with the cores shared, the paired differences measure the load, not the factory: "
    "read the tokens/s ratios."
)


def render(runs: list[dict[str, Any]], load: tuple[float, float], skipped: list[str]) -> str:
    lines = [
        "# Remote-mode benchmark",
        "",
        f"Machine: {machine()}.",
        "The factory with `FACTORY_LLM_BACKEND=openai` in front of an OpenAI-compatible server on "
        "loopback, against calling that server directly with the same request body; both serve "
        f"SmolLM2-135M-Instruct Q4_1, n_ctx {N_CTX}, greedy, {MAX_TOKENS} new tokens at most "
        f"(structured: {STRUCTURED_MAX_TOKENS}, room for the JSON to close), one article of "
        f"{len(article_text().split())} words (numbered per round), timed to the last token. "
        "Medians "
        "over interleaved rounds, the order alternating per round; ratios are medians of "
        "per-round pairs. Regenerate with `make bench-remote`.",
        "",
        "The cores were shared with other work while this ran (1-minute load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end, on {os.cpu_count()} cores), and "
        "the factory, the server and the client share them too: the factory's HTTP work in the "
        "middle takes CPU from the server's llama.cpp threads.",
        "",
        TTFT_NOTE,
        "",
    ]
    for note in skipped:
        lines += [note, ""]
    for res in runs:
        lines += section(res)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default=f"{THREADS},1", help="llama.cpp thread counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    names, skipped = ["llama_cpp.server"], []
    if llama_server.find_binary() is not None:
        names.append("llama-server")
    else:
        skipped.append(f"`llama-server` was not built here: {llama_server.BUILD_HINT}.")
    load_before = os.getloadavg()[0]
    runs = [measure(name, t, args.rounds) for t in counts for name in names]
    report = render(runs, (load_before, os.getloadavg()[0]), skipped)
    replace_section(args.out, "# Remote-mode benchmark", report)
    print(report)


if __name__ == "__main__":
    main()
