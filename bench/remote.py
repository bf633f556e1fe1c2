"""Remote-mode benchmark: the factory with FACTORY_LLM_BACKEND=openai in front of an
OpenAI-compatible server vs calling that same server directly.

Each upstream (llama-cpp-python's `llama_cpp.server`, and llama.cpp's C++ `llama-server` when
`make llama-server` has built it) serves the bundled SmolLM2 on loopback, on CPUs of its own
when there are more CPUs than its llama.cpp threads (as a GPU server or another host would
be); the factory and this client run on the rest (`--shared`: everything on every CPU). Every
round streams one article (numbered per round, so no prompt is fully cached) once through the
factory's `/summarize` (SSE) and once straight to the server's `/v1/chat/completions` with the
body the factory sends (same messages, max_tokens, temperature, extra body; in structured mode
the same `response_format` JSON schema), each from the same prompt-cache state, the order
alternating per round. The tokens/s ratio and the time-to-first-token difference are medians
of per-round pairs. Run with `make bench-remote`; it rewrites its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


def reset_cache(client: httpx.Client, structured: bool) -> None:
    """A one-token request with the same frame and another article: afterwards the server's
    prompt cache holds the frame and not the article, whichever side ran last. Each side of a
    pair then evaluates the same article from the same state, so the greedy answers match."""
    body: dict[str, Any] = {
        **EXTRA_BODY,
        "model": MODEL,
        "messages": prompts.messages("skimmer", structured, "Reset."),
        "max_tokens": 1,
        "temperature": 0.0,
    }
    client.post("/chat/completions", json=body).raise_for_status()


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
    batch_threads = len(os.sched_getaffinity(0))  # every core it may use, as llama-server's
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--n_ctx", str(N_CTX), "--n_threads", str(threads)]
    cmd += ["--n_threads_batch", str(batch_threads), "--interrupt_requests", "False"]
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


@contextmanager
def affinity(cpus: set[int] | None) -> Iterator[None]:
    """This process (and what it starts meanwhile) on `cpus`; None leaves it as it is."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def placement(threads: int, pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """The server's CPUs and the factory's and client's: apart when `pin` and there are more
    CPUs than llama.cpp threads (the server's last ones), else (None, None), shared."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) <= threads:
        return None, None
    return set(cpus[-threads:]), set(cpus[:-threads])


Pairs = dict[bool, tuple[list[Run], list[Run]]]  # structured? -> (factory runs, direct runs)


def rounds_of(fc: httpx.Client, dc: httpx.Client, texts: list[str], fresh: bool, tag: str) -> Pairs:
    """One pair per text and mode, the order alternating. `fresh`: each side evaluates its
    article from the same cache state (see reset_cache); else the texts are one, already in
    the server's cache, and only the answer is generated."""
    out: Pairs = {False: ([], []), True: ([], [])}
    for structured in (False, True):
        fac, direct = out[structured]
        if not fresh:  # the frame differs per mode: the mode's prompt into the cache first
            direct_run(dc, texts[0], structured)
        for i, text in enumerate(texts):
            sides = [(factory_run, fc, fac), (direct_run, dc, direct)]
            for run, client, runs in sides if i % 2 == 0 else sides[::-1]:
                if fresh:
                    reset_cache(dc, structured)
                runs.append(run(client, text, structured))
            print(
                f"{tag}, {'structured' if structured else 'plain'} {i + 1}/{len(texts)}: "
                f"factory {fac[-1].tok_s:.1f} tok/s, first token {fac[-1].ttft_ms:.0f} ms; "
                f"direct {direct[-1].tok_s:.1f}, {direct[-1].ttft_ms:.0f} ms; "
                f"{fac[-1].tokens} vs {direct[-1].tokens} tokens",
                flush=True,
            )
    return out


def measure(name: str, threads: int, rounds: int, cached: int, pin: bool) -> dict[str, Any]:
    gguf = offline.smollm2_gguf()
    article = article_text()
    editions = [f"Edition {i:02d}.\n{article}" for i in range(rounds + 1)]
    server_cpus, client_cpus = placement(threads, pin)
    port = free_port()
    with ExitStack() as stack:
        with affinity(server_cpus):
            url = stack.enter_context(upstream(name, gguf, threads))
        stack.enter_context(affinity(client_cpus))  # the factory inherits it
        env = {
            **offline_factory_env(port),
            "FACTORY_LLM_BACKEND": "openai",
            "FACTORY_LLM_REMOTE_URL": url,
            "FACTORY_LLM_REMOTE_MODEL": MODEL,
            "FACTORY_LLM_REMOTE_CONTEXT_TOKENS": str(N_CTX),
            "FACTORY_LLM_REMOTE_EXTRA_BODY": json.dumps(EXTRA_BODY),
        }
        stack.enter_context(
            process([sys.executable, "-m", "factory"], env, f"http://127.0.0.1:{port}/readyz")
        )
        fc = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600))
        dc = stack.enter_context(httpx.Client(base_url=url, timeout=600))
        for structured in (False, True):  # warm both paths, the grammar and the HTTP pools
            factory_run(fc, editions[-1], structured), direct_run(dc, editions[-1], structured)
        tag = f"{name}, {threads} thread(s)"
        cold = rounds_of(fc, dc, editions[:rounds], True, f"{tag}, new article")
        warm = rounds_of(fc, dc, [editions[-1]] * cached, False, f"{tag}, cached prompt")
        form = FORMS[dc.base_url]
    return {
        "name": name,
        "threads": threads,
        "cpus": (server_cpus, client_cpus),
        "new article": cold,
        "cached prompt": warm,
        "form": form,
    }


def _cpus(cpus: set[int] | None) -> str:
    return ", ".join(str(c) for c in sorted(cpus or ()))


def placed(res: dict[str, Any]) -> str:
    server, client = res["cpus"]
    if server is None:
        return "factory, server and client sharing every CPU"
    return f"server on CPU {_cpus(server)}, factory and client on CPU {_cpus(client)}"


def section(res: dict[str, Any]) -> list[str]:
    form = "`json_schema`" if res["form"] == "json_schema" else "`json_object` + schema"
    lines = [
        f"## Remote mode in front of `{res['name']}`, {res['threads']} llama.cpp thread(s), "
        f"{placed(res)}",
        "",
        f"Structured output: `response_format` {form}.",
        "",
        "| prompt | system | n | tokens/s | time to first token (ms) | total (ms) | tokens "
        "| prompt tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for phase in ("cached prompt", "new article"):
        for structured in (False, True):
            fac, direct = res[phase][structured]
            mode = "structured" if structured else "plain"
            reported = median(direct, "prompt_tokens") > 0  # llama_cpp.server sends no usage
            for who, runs in (("factory remote mode, `/summarize` SSE", fac), ("direct", direct)):
                shown = f"{median(runs, 'prompt_tokens'):.0f}" if reported else "not reported"
                lines.append(
                    f"| {phase} | {who}, {mode} | {len(runs)} | {median(runs, 'tok_s'):.1f} "
                    f"| {median(runs, 'ttft_ms'):.0f} | {median(runs, 'total_ms'):.0f} "
                    f"| {median(runs, 'tokens'):.0f} | {shown} |"
                )
            ratio = paired(fac, direct, "tok_s", lambda a, b: a / b)
            extra = paired(fac, direct, "ttft_ms", lambda a, b: a - b)
            pairs = list(zip(fac, direct, strict=True))
            low = min(f.tok_s / d.tok_s for f, d in pairs)
            high = max(f.ttft_ms - d.ttft_ms for f, d in pairs)
            same = sum(f.tokens == d.tokens for f, d in pairs)
            judged = phase == "cached prompt"  # see the note above the tables
            ok_ratio = _verdict(ratio, 0.95) if judged else "(context)"
            ok_extra = _verdict(extra, 50, higher_is_better=False) if judged else "(context)"
            ratios += [
                f"| {phase}, {mode} | factory / direct tokens/s | {ratio:.2f}x (lowest pair "
                f"{low:.2f}x) | >= 0.95x | {ok_ratio} |",
                f"| {phase}, {mode} | factory - direct time to first token | {extra:+.0f} ms "
                f"(highest pair {high:+.0f} ms) | <= +50 ms | {ok_extra} |",
                f"| {phase}, {mode} | pairs whose two answers had the same length | "
                f"{same}/{len(pairs)} | | |",
            ]
    return [
        *lines,
        "",
        "| prompt, mode | median of per-round pairs | value | target | verdict |",
        "|---|---|---|---|---|",
        *ratios,
        "",
    ]


def render(runs: list[dict[str, Any]], load: tuple[float, float], skipped: list[str]) -> str:
    lines = [
        "# Remote-mode benchmark",
        "",
        f"Machine: {machine()}.",
        "The factory with `FACTORY_LLM_BACKEND=openai` in front of an OpenAI-compatible server on "
        "loopback, against calling that server directly with the same request body; both serve "
        f"SmolLM2-135M-Instruct Q4_1, n_ctx {N_CTX}, greedy, {MAX_TOKENS} new tokens at most "
        f"(structured: {STRUCTURED_MAX_TOKENS}, room for the JSON to close), one article of "
        f"{len(article_text().split())} words, timed to the last token. Each round both sides "
        "get the same article (numbered per round) from the same prompt-cache state (a one-token "
        "request with another article goes before each), the order alternating per round; "
        "figures are medians, ratios are medians of per-round pairs. Regenerate with "
        "`make bench-remote`.",
        "",
        "Two kinds of round. **New article**: each pair evaluates a new ~1,100-token prompt, as a "
        "user's job does; at one thread that takes seconds and varies by hundreds of ms from "
        "run to run, more than the factory could add, so these rows are context. **Cached "
        "prompt**: every run asks for the same article, whose prompt the server already holds, "
        "so only the answer is generated: what stays is the factory's own cost on the way to "
        "the first token and on each token after it. The targets are judged there.",
        "",
        "Where the server has CPUs of its own, as a GPU server or another host would, the "
        "factory's work shows only as what it adds to each token's way; where all share the "
        "CPUs, the factory's HTTP work also takes CPU from the server's llama.cpp threads. "
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end, on "
        f"{os.cpu_count()} CPUs.",
        "",
    ]
    for note in skipped:
        lines += [note, ""]
    for res in runs:
        lines += section(res)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="pairs on a new article")
    parser.add_argument("--cached", type=int, default=30, help="pairs on a cached prompt")
    parser.add_argument(
        "--threads",
        default=str(max(1, THREADS - 1)),
        help="llama.cpp thread counts, comma-separated (default: all CPUs but one)",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="do not give the server CPUs of its own (it always shares when threads >= CPUs)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    names, skipped = ["llama_cpp.server"], []
    if llama_server.find_binary() is not None:
        names.append("llama-server")
    else:
        skipped.append(f"`llama-server` was not built here: {llama_server.BUILD_HINT}.")
    load_before = os.getloadavg()[0]
    pin = not args.shared
    runs = [measure(n, t, args.rounds, args.cached, pin) for t in counts for n in names]
    report = render(runs, (load_before, os.getloadavg()[0]), skipped)
    replace_section(args.out, "# Remote-mode benchmark", report)
    print(report)


if __name__ == "__main__":
    main()
