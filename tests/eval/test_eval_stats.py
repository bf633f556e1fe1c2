"""The eval's verdicts on issue 10's targets, from per-page results."""

from __future__ import annotations

from eval.records import ArmResult, PageResult, arms
from eval.stats import paired, summarize_arm, targets


def _page(name: str, full_l: float, head_l: float, ranked_l: float) -> PageResult:
    def arm(name: str, prompt: int, ttft: float, rouge_l: float) -> ArmResult:
        return ArmResult(name, "ok", prompt_tokens=prompt, ttft_ms=ttft, rouge_l=rouge_l)

    return PageResult(
        name,
        has_reference=True,
        arms=[
            arm("full", 1000, 5000, full_l),
            arm("head 33%", 400, 2000, head_l),
            arm("ranked 33%", 400, 2500, ranked_l),
        ],
    )


def _verdicts(pages: list[PageResult]) -> dict[str, bool | None]:
    return {t.what: t.met for t in targets(pages, [0.33])}


def test_arms_run_full_first_then_head_and_ranked_at_each_budget() -> None:
    assert [a.name for a in arms([0.5, 0.33])] == [
        "full",
        "head 50%",
        "ranked 50%",
        "head 33%",
        "ranked 33%",
    ]


def test_selection_that_wins_on_every_page_meets_the_targets() -> None:
    pages = [_page(f"p{i}", 0.30 + i / 100, 0.20 + i / 100, 0.31 + i / 100) for i in range(8)]
    verdicts = _verdicts(pages)
    assert verdicts["median prompt tokens, ranked / full"] is True  # 0.40x
    assert verdicts["median time to first token, ranked / full"] is True  # 0.50x
    assert verdicts["mean ROUGE-L, ranked / full"] is True
    assert verdicts["mean ROUGE-L, ranked - head (same budget)"] is True
    p = paired(pages, "ranked 33%", "head 33%", lambda a: a.rouge_l)
    assert p.wins == 8 and p.separated


def test_a_difference_within_the_noise_is_not_claimed_as_a_win() -> None:
    # ranked beats head on half the pages and loses on the other half: mean above 0, no win.
    ups = [_page(f"u{i}", 0.3, 0.20, 0.30) for i in range(4)]
    downs = [_page(f"d{i}", 0.3, 0.29, 0.21) for i in range(4)]
    pages = ups + downs
    p = paired(pages, "ranked 33%", "head 33%", lambda a: a.rouge_l)
    assert p.mean_diff is not None and p.mean_diff > 0
    assert not p.separated
    verdicts = _verdicts(pages)
    assert verdicts["mean ROUGE-L, ranked - head (same budget)"] is False
    assert verdicts["mean ROUGE-L, ranked / full"] is False  # 0.855x of the full article's


def test_failed_and_invalid_arms_are_counted_apart_and_no_arm_means_not_measured() -> None:
    page = PageResult(
        "p",
        arms=[
            ArmResult("full", "ok", prompt_tokens=900, ttft_ms=100.0, done_ms=300.0),
            ArmResult("head 33%", "invalid_json", ttft_ms=50.0, done_ms=90.0),
            ArmResult("ranked 33%", "unavailable", "no budget"),
        ],
    )
    head = summarize_arm([page], "head 33%")
    assert (head.ok, head.invalid, head.valid_share, head.prompt_tokens) == (0, 1, 0.0, None)
    assert head.ttft_ms == 50.0  # a summary that did not parse still took its time
    assert summarize_arm([page], "ranked 33%").unavailable == 1
    assert _verdicts([page])["median prompt tokens, ranked / full"] is None
