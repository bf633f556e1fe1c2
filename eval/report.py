"""eval/RESULTS.md: the run, per-arm figures, the issue's targets, spread, and every page."""

from __future__ import annotations

from pathlib import Path

from eval.records import ArmResult, PageResult, RunInfo
from eval.stats import ArmSummary, paired, summarize_arm, targets


def _n(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _s(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms / 1000:.1f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*lines, *("| " + " | ".join(r) + " |" for r in rows)]


def _arm_row(s: ArmSummary) -> list[str]:
    tried = s.ok + s.invalid
    return [
        s.arm,
        f"{s.ok}/{tried + s.failed + s.unavailable}",
        "n/a" if not tried else f"{s.ok}/{tried}",
        _n(s.input_tokens),
        _n(s.prompt_tokens),
        f"{s.prompt_tokens_total:,}",
        _n(s.output_tokens),
        _s(s.ttft_ms),
        _s(s.done_ms),
        _n(s.rouge1, 3),
        _n(s.rouge2, 3),
        _n(s.rouge_l, 3),
        _n(s.title_rouge_l, 3),
        _share(s.unsupported_share),
    ]


def _arm_cells(a: ArmResult) -> list[str]:
    status = a.status if a.status == "ok" else f"{a.status}: {_cell(a.reason)}"
    return [
        a.arm,
        status,
        "" if a.budget_tokens is None else f"{a.budget_tokens}",
        _n(a.input_tokens) if a.input_tokens is not None else "",
        _n(a.prompt_tokens) if a.prompt_tokens is not None else "",
        _n(a.output_tokens) if a.output_tokens is not None else "",
        _s(a.ttft_ms) if a.ttft_ms is not None else "",
        _s(a.done_ms) if a.done_ms is not None else "",
        _n(a.rouge1, 3) if a.rouge1 is not None else "",
        _n(a.rouge_l, 3) if a.rouge_l is not None else "",
        _n(a.title_rouge_l, 3) if a.title_rouge_l is not None else "",
        _share(a.unsupported_share) if a.unsupported_share is not None else "",
    ]


PAGE_HEAD = [
    "page",
    "words",
    "first highlights (ms)",
    "lead-3 ROUGE-L",
    "arm",
    "status",
    "budget",
    "input tokens",
    "prompt tokens",
    "output tokens",
    "first token (s)",
    "done (s)",
    "ROUGE-1",
    "ROUGE-L",
    "title ROUGE-L",
    "unsupported",
]


def _page_rows(page: PageResult) -> list[list[str]]:
    highlights = (
        _n(page.highlights_ms)
        if page.highlights_ms is not None
        else f"failed: {_cell(page.highlights_error)}"
        if page.highlights_error
        else ""
    )
    lead = _n(page.lead3_rouge_l, 3) if page.lead3_rouge_l is not None else "no reference"
    first = [f"`{page.name}`", str(page.words), highlights, lead]
    if page.error:
        return [[*first, "", f"page failed: {_cell(page.error)}", *[""] * 10]]
    rows = []
    for i, arm in enumerate(page.arms):
        rows.append([*(first if i == 0 else [""] * 4), *_arm_cells(arm)])
    return rows


def render(info: RunInfo, pages: list[PageResult], arm_names: list[str], plots: list[str]) -> str:
    summaries = [summarize_arm(pages, a) for a in arm_names]
    scored = [p for p in pages if p.has_reference and not p.error]
    failed = [p for p in pages if p.error]
    lead = [p.lead3_rouge_l for p in pages if p.lead3_rouge_l is not None]
    lead1 = [p.lead3_rouge1 for p in pages if p.lead3_rouge1 is not None]
    highlights = sorted(p.highlights_ms for p in pages if p.highlights_ms is not None)
    pct = ", ".join(f"{round(f * 100)}%" for f in info.fractions)
    lines = [
        "# Eval: summaries of real articles, whole or within an input budget",
        "",
        f"- Machine: {info.machine}.",
        f"- Model: {info.model}; factory {info.factory}.",
        f"- Date: {info.date}; run time {info.seconds / 60:.1f} min.",
        f"- Pages: {len(pages)}, {info.page_set}; {len(scored)} with a reference summary "
        "(the publisher's meta description).",
        f"- Arms, on the same pages in one run: the full article (no budget) | head truncation "
        f"(the first B tokens) | ranked selection (the lead, then the best-scored sentences, in "
        f"order, none cut), for B = {pct} of the article tokens the full arm read.",
        "- Each summary: `POST /summarize`, style skimmer, structured (JSON grammar), streamed, "
        "temperature 0 (greedy: deterministic, so the arms compare like with like), the "
        "server's output cap. Between arms the KV cache is reset to the instruction prefix, as "
        "for a new article. Times are at the client, from just before the request. The claims "
        "are checked with `POST /provenance` against the whole article.",
        f"- Regenerate: `{info.command}` (options: `.venv/bin/python eval/run.py --help`).",
        "",
    ]
    if info.error:
        lines += ["**The run failed:** " + _cell(info.error), ""]
    lines += [f"- {note}" for note in info.notes]
    if info.notes:
        lines.append("")
    lines += [
        *[f"![{Path(p).stem}]({p})" for p in plots],
        "",
        "## Per arm",
        "",
        "Medians over the pages where the arm succeeded (times also over invalid-JSON ones); "
        "ROUGE F-measures are means over the pages with a reference; unsupported = all "
        "flagged claims / all claims.",
        "",
        *table(
            [
                "arm",
                "pages ok",
                "valid JSON",
                "input tokens",
                "prompt tokens",
                "prompt tokens, total",
                "output tokens",
                "first token (s)",
                "done (s)",
                "ROUGE-1",
                "ROUGE-2",
                "ROUGE-L",
                "title ROUGE-L",
                "unsupported",
            ],
            [_arm_row(s) for s in summaries],
        ),
        "",
        f"Baseline, lead-3 (the article's first three sentences) against the same references: "
        f"ROUGE-1 {_n(_mean(lead1), 3)}, ROUGE-L {_n(_mean(lead), 3)} ({len(lead)} pages). "
        f"First highlights (`POST /highlights`, once per page): median "
        f"{_n(highlights[len(highlights) // 2] if highlights else None)} ms, worst "
        f"{_n(highlights[-1] if highlights else None)} ms.",
        "",
        "## Targets (issue 10 §3)",
        "",
        *table(
            ["budget", "figure", "value", "target", "verdict", "spread"],
            [
                [
                    t.budget,
                    t.what,
                    t.value,
                    t.target,
                    "not measured" if t.met is None else "met" if t.met else "missed",
                    t.note,
                ]
                for t in targets(pages, info.fractions)
            ],
        ),
        "",
        "## Spread and noise",
        "",
        *_spread(pages, info.fractions),
        "",
        "## Every page",
        "",
        *table(PAGE_HEAD, [row for p in pages for row in _page_rows(p)]),
        "",
    ]
    if failed:
        lines += ["## Pages that failed", ""]
        lines += [f"- `{p.name}`: {_cell(p.error)}" for p in failed]
        lines.append("")
    return "\n".join(lines)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _spread(pages: list[PageResult], fractions: list[float]) -> list[str]:
    out = [
        "- Temperature 0 makes every arm deterministic for a given model file, prompt and "
        "machine, so there are no seeds to vary; llama.cpp's logits still differ slightly "
        "between CPUs and batch layouts, and a near-tie can flip a greedy summary. The spread "
        "that matters is across pages: the paired differences below (each page against "
        "itself in another arm), with 95% bootstrap intervals over the pages.",
    ]
    for f in fractions:
        label = f"{round(f * 100)}%"
        for a, b in ((f"ranked {label}", "full"), (f"head {label}", "full")):
            out.append(_paired_line(pages, a, b))
        out.append(_paired_line(pages, f"ranked {label}", f"head {label}"))
    out.append(
        "- Times are one run per arm on a machine that may be shared; ratios between arms "
        "of the same run are steadier than the absolute seconds."
    )
    return out


def _paired_line(pages: list[PageResult], a: str, b: str) -> str:
    p = paired(pages, a, b, lambda x: x.rouge_l)
    if p.n == 0 or p.low is None or p.high is None or p.mean_diff is None:
        return f"- ROUGE-L, {a} - {b}: no page scored in both."
    verdict = "the pages separate them" if p.separated else "too noisy to separate"
    return (
        f"- ROUGE-L, {a} - {b}: mean {p.mean_diff:+.3f}, 95% CI [{p.low:+.3f}, {p.high:+.3f}], "
        f"{p.n} pages ({p.wins} up, {p.losses} down, {p.ties} equal): {verdict}."
    )
