"""The eval's pictures (matplotlib, PNG): what each arm costs and what it keeps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from eval.records import ArmResult, PageResult
from eval.stats import Pick, median, values

COLOURS = {"full": "#4c72b0", "head": "#dd8452", "ranked": "#55a868"}
FILES = ("speed.png", "quality.png", "grounding.png")


def _colour(arm: str) -> str:
    return COLOURS.get(arm.split()[0], "#888888")


def _strip(ax: Axes, pages: list[PageResult], arms: list[str], pick: Pick, label: str) -> None:
    """A bar at each arm's median, every page as a dot, the same page joined across arms."""
    per_arm = [values(pages, arm, pick) for arm in arms]
    for i, (arm, found) in enumerate(zip(arms, per_arm, strict=True)):
        mid = median(found)
        if mid is not None:
            ax.bar(i, mid, color=_colour(arm), alpha=0.35, width=0.7)
            shown = f"{mid:,.0f}" if mid >= 100 else f"{mid:.3g}"
            ax.text(i, mid, shown, ha="center", va="bottom", fontsize=8)
    for page in pages:
        picked = [pick(a) if (a := page.arm(arm)) and a.status == "ok" else None for arm in arms]
        points = [(i, y) for i, y in enumerate(picked) if y is not None]
        xs, ys = [i for i, _ in points], [y for _, y in points]
        ax.plot(xs, ys, color="#999999", linewidth=0.5, alpha=0.5, zorder=1)
        ax.scatter(xs, ys, color=[_colour(arms[i]) for i in xs], s=12, zorder=2)
    ax.set_xticks(range(len(arms)), arms, rotation=20)
    ax.set_ylabel(label)
    ax.grid(axis="y", alpha=0.3)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def speed(pages: list[PageResult], arms: list[str], path: Path, model: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    _strip(axes[0], pages, arms, lambda a: a.prompt_tokens, "prompt tokens")
    axes[0].set_title("Prompt tokens (bar: median, dot: page)")
    _strip(axes[1], pages, arms, lambda a: _seconds(a.ttft_ms), "seconds")
    axes[1].set_title("Time to first summary token")
    _strip(axes[2], pages, arms, lambda a: _seconds(a.done_ms), "seconds")
    axes[2].set_title("Time to the finished summary")
    fig.suptitle(f"What each arm costs ({model}, greedy)")
    _save(fig, path)


def quality(
    pages: list[PageResult], arms: list[str], path: Path, model: str, fractions: list[float]
) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    _strip(axes[0], pages, arms, lambda a: a.rouge_l, "ROUGE-L F vs the meta description")
    lead = [p.lead3_rouge_l for p in pages if p.lead3_rouge_l is not None]
    lead_mid = median(lead)
    if lead_mid is not None:
        axes[0].axhline(lead_mid, color="#c44e52", linestyle="--", linewidth=1)
        axes[0].text(-0.45, lead_mid, "lead-3 median", color="#c44e52", fontsize=8, va="bottom")
    axes[0].set_title("Summary ROUGE-L per arm (dot: page)")
    ax = axes[1]
    ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.8)
    for f in fractions:
        label = f"{round(f * 100)}%"
        xs, ys = [], []
        for page in pages:
            head, ranked = page.arm(f"head {label}"), page.arm(f"ranked {label}")
            if _scored(head) and _scored(ranked):
                assert head is not None and ranked is not None
                xs.append(head.rouge_l)
                ys.append(ranked.rouge_l)
        ax.scatter(xs, ys, s=18, label=f"budget {label} ({len(xs)} pages)")
    top = max([0.5, *(a.rouge_l or 0 for p in pages for a in p.arms)])
    ax.set_xlim(-0.02, top * 1.05)
    ax.set_ylim(-0.02, top * 1.05)
    ax.set_xlabel("head truncation ROUGE-L")
    ax.set_ylabel("ranked selection ROUGE-L")
    ax.set_title("Same budget, same page: above the line = selection wins")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(f"What each arm keeps ({model}, greedy)")
    _save(fig, path)


def _scored(arm: ArmResult | None) -> bool:
    return arm is not None and arm.status == "ok" and arm.rouge_l is not None


def grounding(pages: list[PageResult], arms: list[str], path: Path, model: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _strip(axes[0], pages, arms, lambda a: a.unsupported_share, "share of claims unsupported")
    axes[0].set_title("Claims flagged unsupported (dot: page)")
    axes[0].set_ylim(0, 1.05)
    ax = axes[1]
    for i, arm in enumerate(arms):
        found = [a for p in pages if (a := p.arm(arm)) is not None]
        ok = sum(a.status == "ok" for a in found)
        bad = sum(a.status == "invalid_json" for a in found)
        failed = sum(a.status in ("failed", "unavailable") for a in found)
        ax.bar(i, ok, color="#8fbc8f", label="valid JSON" if i == 0 else None)
        ax.bar(i, bad, bottom=ok, color="#c44e52", label="invalid JSON" if i == 0 else None)
        ax.bar(
            i,
            failed,
            bottom=ok + bad,
            color="#cccccc",
            label="failed, unavailable" if i == 0 else None,
        )
    ax.set_xticks(range(len(arms)), arms, rotation=20)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("pages")
    ax.set_title("Structured summaries that parsed")
    ax.legend(fontsize=8)
    fig.suptitle(f"Grounding and validity ({model}, greedy)")
    _save(fig, path)


def draw(
    pages: list[PageResult], arms: list[str], out: Path, model: str, fractions: list[float]
) -> list[Path]:
    """Every plot into `out`; returns their paths."""
    paths = [out / name for name in FILES]
    speed(pages, arms, paths[0], model)
    quality(pages, arms, paths[1], model, fractions)
    grounding(pages, arms, paths[2], model)
    return paths
