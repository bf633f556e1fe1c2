"""`make eval`: summary quality and speed over real articles, whole or within an input budget.

For each page: POST /highlights (time to first highlight), then one streamed structured summary
(greedy) per arm -- the full article | head truncation at budget B | ranked selection at B, for
each B in --budgets (shares of the article tokens the full arm read) -- timed to the first token
and to `done`, ROUGE-1/2/L of main_summary against the publisher's meta description and of the
title against the page title, and POST /provenance (share of claims flagged unsupported).
Writes RESULTS.md, results.json and PNG plots into --out.

The factory is started here (`python -m factory`) with the bundled offline models (SmolLM2-135M,
all-MiniLM-L6-v2 on ONNX Runtime), unless FACTORY_LLM_MODEL_PATH, or FACTORY_LLM_REPO_ID and
FACTORY_LLM_FILENAME, name another GGUF; or give --factory-url of a running one
(FACTORY_INTERNAL_TOKEN is sent when set). Default pages: every English corpus page with a
meta description and 150-1,500 words (29 pages; about 16.5 minutes with the bundled model on
2 cores, hours with an 8B model: use --limit; --max-words 2000 adds the three longest).
A page that fails, or a factory that is down, is reported with the reason and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval import pages as page_sets  # noqa: E402
from eval.client import FactoryClient, FactoryError, reason  # noqa: E402
from eval.factory_proc import FactoryStartError, running_factory  # noqa: E402
from eval.records import Arm, ArmResult, PageResult, RunInfo, arms, to_json  # noqa: E402
from eval.scoring import lead3, rouge  # noqa: E402

OUT = ROOT / "eval"
DEFAULT_BUDGETS = "0.5,0.33"
WARM_UP = (ROOT / "tests" / "fixtures" / "articles" / "chips.txt").read_text()


def machine() -> str:
    from bench.factory import machine as describe

    return describe()


@contextmanager
def factory_url(given: str | None) -> Iterator[tuple[str, str | None]]:
    """The factory's URL, and the GGUF it loads when it is started here."""
    if given:
        yield given.rstrip("/"), None
        return
    with running_factory() as (url, gguf):
        yield url, gguf


def _budgets(text: str) -> list[float]:
    fractions = [float(x) for x in text.split(",") if x.strip()]
    if not fractions or not all(0 < f < 1 for f in fractions):
        raise argparse.ArgumentTypeError("budgets are shares of the article: 0 < B < 1")
    return fractions


def _article_tokens(client: FactoryClient, text: str) -> int | None:
    """The article's token count without reading it: a one-token budget, head selection."""
    body = {"text": text, "max_tokens": 1, "input_budget_tokens": 1, "input_selection": "head"}
    try:
        r = client.http.post("/summarize", json=body)
        return int(r.json()["article_tokens"]) if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def score(result: ArmResult, page: page_sets.EvalPage, client: FactoryClient) -> None:
    """ROUGE against the references, and the share of claims the article does not support."""
    if result.status != "ok" or not result.main_summary:
        return
    if page.reference:
        got = rouge(page.reference, result.main_summary)
        result.rouge1, result.rouge2, result.rouge_l = got["rouge1"], got["rouge2"], got["rougeL"]
    if page.title and result.title:
        result.title_rouge_l = rouge(page.title, result.title)["rougeL"]
    try:
        result.claims, result.unsupported = client.provenance(
            page.text, result.main_summary, result.key_points
        )
    except (FactoryError, httpx.HTTPError) as exc:
        result.provenance_error = reason(exc)


def run_arm(
    client: FactoryClient,
    page: page_sets.EvalPage,
    arm: Arm,
    read_tokens: int | None,
    supports: bool | None,
) -> ArmResult:
    budget = None
    if arm.fraction is not None:
        if supports is False:
            why = "the factory's /summarize takes no input_budget_tokens (budget not landed)"
            return ArmResult(arm.name, "unavailable", why)
        if read_tokens is None:
            why = "no article token count to take a share of (the full arm failed)"
            return ArmResult(arm.name, "failed", why)
        budget = max(1, round(arm.fraction * read_tokens))
    try:
        client.reset_cache(supports is not False)
        result = client.summarize(page.text, arm, budget, supports)
    except httpx.HTTPError as exc:
        return ArmResult(arm.name, "failed", reason(exc), budget_tokens=budget)
    score(result, page, client)
    return result


def evaluate(
    client: FactoryClient,
    page: page_sets.EvalPage,
    plan: list[Arm],
    supports: bool | None,
) -> PageResult:
    """Every arm of one page; a failure is recorded on the page or the arm, never raised."""
    result = PageResult(page.name, page.words, has_reference=bool(page.reference))
    if page.reference:
        baseline = rouge(page.reference, lead3(page.text))
        result.lead3_rouge1, result.lead3_rouge_l = baseline["rouge1"], baseline["rougeL"]
    try:
        result.highlights_ms = client.highlights(page.text)
    except (FactoryError, httpx.HTTPError) as exc:
        result.highlights_error = reason(exc)
    read_tokens: int | None = None
    for arm in plan:
        if arm.fraction is not None and read_tokens is None and supports is not False:
            read_tokens = _article_tokens(client, page.text)
        found = run_arm(client, page, arm, read_tokens, supports)
        if arm.fraction is None and found.input_tokens:
            read_tokens = found.input_tokens
        result.arms.append(found)
        print(f"  {arm.name}: {_line(found)}", flush=True)
    return result


def _line(a: ArmResult) -> str:
    if a.status != "ok":
        return f"{a.status} ({a.reason})"
    ttft = "n/a" if a.ttft_ms is None else f"{a.ttft_ms / 1000:.1f}"
    done = "n/a" if a.done_ms is None else f"{a.done_ms / 1000:.1f}"
    return (
        f"prompt {a.prompt_tokens} tok, output {a.output_tokens} tok, first token {ttft} s, "
        f"done {done} s, ROUGE-L {a.rouge_l}, unsupported {a.unsupported}/{a.claims}"
    )


def warm_up(client: FactoryClient, supports: bool | None) -> None:
    """Page one should not pay for first-call costs (grammar, caches, page faults)."""
    try:
        client.highlights(WARM_UP)
        client.summarize(WARM_UP, Arm("full"), None, supports)
    except (FactoryError, httpx.HTTPError) as exc:
        print(f"warm-up failed: {reason(exc)}", flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, help="at most this many pages")
    parser.add_argument(
        "--pages",
        help="comma-separated names: articles/bbc-1, readability-pages/<name>, fixtures/chips",
    )
    parser.add_argument(
        "--budgets",
        type=_budgets,
        default=_budgets(DEFAULT_BUDGETS),
        help=f"shares of the article tokens for the budget arms (default {DEFAULT_BUDGETS})",
    )
    parser.add_argument(
        "--max-words",
        type=int,
        default=page_sets.DEFAULT_MAX_WORDS,
        help=f"the default set's longest page (default {page_sets.DEFAULT_MAX_WORDS:,} words)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where RESULTS.md and plots go")
    parser.add_argument("--factory-url", help="use this running factory instead of starting one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    loaded: list[page_sets.EvalPage | PageResult] = []
    if args.pages:
        for name in (n.strip() for n in args.pages.split(",") if n.strip()):
            try:
                loaded.append(page_sets.load(name))
            except LookupError as exc:
                loaded.append(PageResult(name, error=str(exc)))
        said = f"chosen with --pages ({args.pages})"
    else:
        found, said = page_sets.default_set(args.limit, args.max_words)
        loaded = list(found)
    if args.limit is not None:
        loaded = loaded[: args.limit]
    plan = arms(args.budgets)
    info = RunInfo(
        machine=machine(),
        model="unknown (the factory did not answer)",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        page_set=said,
        fractions=args.budgets,
        factory=f"at {args.factory_url}" if args.factory_url else "started here",
        command=" ".join(["make eval", *([f'EVAL_ARGS="{_shown(argv)}"'] if _shown(argv) else [])]),
    )
    results: list[PageResult] = []
    load_before = os.getloadavg()[0]
    try:
        with factory_url(args.factory_url) as (url, gguf):
            client = FactoryClient(url, os.environ.get("FACTORY_INTERNAL_TOKEN") or None)
            try:
                info.model = client.model() + (f" ({gguf})" if gguf else "")
            except (FactoryError, httpx.HTTPError, KeyError) as exc:
                info.notes.append(f"The factory's /health did not answer: {reason(exc)}.")
            supports = client.supports_budget()
            if supports is False:
                info.notes.append(
                    "This factory's /summarize takes no input budget: the budget arms are "
                    "marked unavailable."
                )
            warm_up(client, supports)
            for i, item in enumerate(loaded, start=1):
                print(f"[{i}/{len(loaded)}] {item.name}", flush=True)
                if isinstance(item, PageResult):
                    results.append(item)
                    continue
                try:
                    results.append(evaluate(client, item, plan, supports))
                except Exception as exc:  # a page must never end the run
                    results.append(PageResult(item.name, item.words, error=reason(exc)))
            client.close()
    except FactoryStartError as exc:
        print(f"the factory did not start: {exc}", file=sys.stderr, flush=True)
        info.error = f"the factory did not start: {str(exc).splitlines()[0]}"
    except KeyboardInterrupt:
        info.error = "interrupted"
    finally:
        done = {r.name for r in results}
        for item in loaded:
            if item.name not in done:
                words = item.words if isinstance(item, page_sets.EvalPage) else 0
                results.append(PageResult(item.name, words, error=info.error or "not run"))
        info.seconds = time.perf_counter() - started
        info.notes.append(
            f"Load average (1 min) {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} "
            f"at the end, on {os.cpu_count()} cores (above the core count, something else was "
            "running and the times are slower than the machine can do)."
        )
        write(args.out, info, results, plan)
    measured = any(a.status in ("ok", "invalid_json") for r in results for a in r.arms)
    return 0 if measured else 1


def _shown(argv: list[str] | None) -> str:
    """The options this run was given, for the report's "Regenerate" line (--out left out)."""
    given = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            kept.append(arg)
    return " ".join(kept)


def write(out: Path, info: RunInfo, results: list[PageResult], plan: list[Arm]) -> None:
    from eval.plots import draw
    from eval.report import render

    out.mkdir(parents=True, exist_ok=True)
    names = [a.name for a in plan]
    (out / "results.json").write_text(json.dumps(to_json(info, results), indent=1) + "\n")
    plots = [p.name for p in draw(results, names, out, info.model, info.fractions)]
    (out / "RESULTS.md").write_text(render(info, results, names, plots))
    print(f"wrote {out / 'RESULTS.md'} ({info.seconds / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
