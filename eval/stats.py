"""Per-arm figures over the pages, paired comparisons between arms, and the issue's targets."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from eval.records import ArmResult, PageResult

BOOTSTRAP_RESAMPLES = 2000
Pick = Callable[[ArmResult], float | None]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def values(pages: list[PageResult], arm: str, pick: Pick, status: str = "ok") -> list[float]:
    out = []
    for page in pages:
        found = page.arm(arm)
        if found is not None and found.status == status:
            value = pick(found)
            if value is not None:
                out.append(float(value))
    return out


@dataclass
class ArmSummary:
    arm: str
    ok: int
    invalid: int
    failed: int
    unavailable: int
    input_tokens: float | None
    prompt_tokens: float | None
    prompt_tokens_total: int
    output_tokens: float | None
    ttft_ms: float | None
    done_ms: float | None
    done_ms_total: float
    rouge1: float | None  # means over the pages with a reference
    rouge2: float | None
    rouge_l: float | None
    rouge_l_median: float | None
    title_rouge_l: float | None
    claims: int
    unsupported: int

    @property
    def valid_share(self) -> float | None:
        tried = self.ok + self.invalid
        return self.ok / tried if tried else None

    @property
    def unsupported_share(self) -> float | None:
        return self.unsupported / self.claims if self.claims else None


def summarize_arm(pages: list[PageResult], arm: str) -> ArmSummary:
    found = [a for p in pages if (a := p.arm(arm)) is not None]
    ok = [a for a in found if a.status == "ok"]
    counted = [a for a in found if a.status in ("ok", "invalid_json")]

    def med(pick: Pick, among: list[ArmResult] = ok) -> float | None:
        return median([float(v) for a in among if (v := pick(a)) is not None])

    def avg(pick: Pick) -> float | None:
        return mean([float(v) for a in ok if (v := pick(a)) is not None])

    return ArmSummary(
        arm=arm,
        ok=len(ok),
        invalid=sum(a.status == "invalid_json" for a in found),
        failed=sum(a.status == "failed" for a in found),
        unavailable=sum(a.status == "unavailable" for a in found),
        input_tokens=med(lambda a: a.input_tokens),
        prompt_tokens=med(lambda a: a.prompt_tokens),
        prompt_tokens_total=sum(a.prompt_tokens or 0 for a in ok),
        output_tokens=med(lambda a: a.output_tokens),
        ttft_ms=med(lambda a: a.ttft_ms, counted),
        done_ms=med(lambda a: a.done_ms, counted),
        done_ms_total=sum(a.done_ms or 0.0 for a in counted),
        rouge1=avg(lambda a: a.rouge1),
        rouge2=avg(lambda a: a.rouge2),
        rouge_l=avg(lambda a: a.rouge_l),
        rouge_l_median=med(lambda a: a.rouge_l),
        title_rouge_l=avg(lambda a: a.title_rouge_l),
        claims=sum(a.claims or 0 for a in ok if a.unsupported is not None),
        unsupported=sum(a.unsupported or 0 for a in ok if a.claims),
    )


@dataclass
class Paired:
    """`a` minus `b` on the pages where both were scored: mean difference, its 95% bootstrap
    interval, and how many pages went each way."""

    n: int
    mean_diff: float | None
    low: float | None
    high: float | None
    wins: int
    losses: int
    ties: int

    @property
    def separated(self) -> bool:
        """The interval excludes zero: the pages tell the arms apart."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def paired(pages: list[PageResult], a: str, b: str, pick: Pick, seed: int = 0) -> Paired:
    diffs = []
    for page in pages:
        x, y = page.arm(a), page.arm(b)
        if x is None or y is None or x.status != "ok" or y.status != "ok":
            continue
        vx, vy = pick(x), pick(y)
        if vx is not None and vy is not None:
            diffs.append(vx - vy)
    if not diffs:
        return Paired(0, None, None, None, 0, 0, 0)
    rng = random.Random(seed)
    means = sorted(
        statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return Paired(
        n=len(diffs),
        mean_diff=statistics.fmean(diffs),
        low=means[int(0.025 * len(means))],
        high=means[int(0.975 * len(means)) - 1],
        wins=sum(d > 1e-9 for d in diffs),
        losses=sum(d < -1e-9 for d in diffs),
        ties=sum(abs(d) <= 1e-9 for d in diffs),
    )


@dataclass
class Target:
    budget: str
    what: str
    value: str
    target: str
    met: bool | None  # None: not measurable in this run
    note: str = ""


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(pages: list[PageResult], fractions: list[float]) -> list[Target]:
    """Issue 10 §3 at each budget: prompt tokens -50%, TTFT -40%, ROUGE-L within 5% of the
    full article's, ranked selection above head truncation on ROUGE-L."""
    full = summarize_arm(pages, "full")
    out = []
    for f in fractions:
        label = f"{round(f * 100)}%"
        ranked = summarize_arm(pages, f"ranked {label}")
        head = summarize_arm(pages, f"head {label}")
        prompt = _ratio(ranked.prompt_tokens, full.prompt_tokens)
        ttft = _ratio(ranked.ttft_ms, full.ttft_ms)
        rouge = _ratio(ranked.rouge_l, full.rouge_l)
        vs_full = paired(pages, f"ranked {label}", "full", lambda a: a.rouge_l)
        vs_head = paired(pages, f"ranked {label}", f"head {label}", lambda a: a.rouge_l)
        out += [
            Target(
                label,
                "median prompt tokens, ranked / full",
                _fmt_ratio(prompt),
                "<= 0.50x (-50%)",
                None if prompt is None else prompt <= 0.5,
                f"article tokens alone: "
                f"{_fmt_ratio(_ratio(ranked.input_tokens, full.input_tokens))} (the "
                "instructions around the article are not cut)",
            ),
            Target(
                label,
                "median time to first token, ranked / full",
                _fmt_ratio(ttft),
                "<= 0.60x (-40%)",
                None if ttft is None else ttft <= 0.6,
            ),
            Target(
                label,
                "mean ROUGE-L, ranked / full",
                _fmt_ratio(rouge),
                ">= 0.95x (within 5%)",
                None if rouge is None else rouge >= 0.95,
                _paired_note(vs_full, "ranked - full"),
            ),
            Target(
                label,
                "mean ROUGE-L, ranked - head (same budget)",
                "n/a"
                if ranked.rouge_l is None or head.rouge_l is None
                else f"{ranked.rouge_l - head.rouge_l:+.3f}",
                "> 0, and the pages tell them apart",
                None if vs_head.mean_diff is None else vs_head.mean_diff > 0 and vs_head.separated,
                _paired_note(vs_head, "ranked - head"),
            ),
        ]
    return out


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _paired_note(p: Paired, what: str) -> str:
    if p.n == 0 or p.mean_diff is None or p.low is None or p.high is None:
        return "no page scored in both arms"
    verdict = "separated" if p.separated else "not separated: within the noise"
    return (
        f"{what} per page: mean {p.mean_diff:+.3f}, 95% bootstrap CI [{p.low:+.3f}, "
        f"{p.high:+.3f}] over {p.n} pages ({p.wins} up, {p.losses} down, {p.ties} equal); "
        f"{verdict}"
    )
