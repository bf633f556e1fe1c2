"""A two-page run of `make eval` (eval/run.py) with the real factory and the bundled models:
RESULTS.md, results.json and the plots, with figures that make sense."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]
# Two short English corpus pages of the default set (each has a meta description);
# the project's own fixture articles when ../shared/corpus is absent.
CORPUS_PAGES = ["readability-pages/msn", "articles/buzzfeed-1"]
FIXTURE_PAGES = ["fixtures/chips", "fixtures/sleep"]
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_two_page_eval_writes_results_and_plots(gguf_path: Path, tmp_path: Path) -> None:
    names = CORPUS_PAGES if CORPUS.is_dir() else FIXTURE_PAGES
    args = ["--pages", ",".join(names), "--budgets", "0.5", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "eval/run.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = (tmp_path / "RESULTS.md").read_text()
    for name in names:
        assert f"`{name}`" in results
    for png in ("speed.png", "quality.png", "grounding.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, png
    assert "![speed](speed.png)" in results

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["run"]["model"] and data["run"]["error"] is None
    pages = {p["name"]: p for p in data["pages"]}
    assert list(pages) == names
    for name, page in pages.items():
        assert page["error"] is None, name
        assert page["highlights_ms"] > 0, name
        arms = {a["arm"]: a for a in page["arms"]}
        assert list(arms) == ["full", "head 50%", "ranked 50%"]
        full = arms["full"]
        assert full["status"] in ("ok", "invalid_json"), full
        if full["status"] == "ok":
            assert 0 < full["input_tokens"] <= full["article_tokens"]
            assert full["prompt_tokens"] > full["input_tokens"]  # plus the instructions
            assert full["applied"] == "off"
            assert 0 < full["ttft_ms"] < full["done_ms"]
            assert full["output_tokens"] > 0
            assert full["claims"] >= 1 and 0 <= full["unsupported"] <= full["claims"]
            if page["has_reference"]:
                assert 0 <= full["rouge_l"] <= 1 and 0 <= full["rouge1"] <= 1
            for arm in ("head 50%", "ranked 50%"):
                cut = arms[arm]
                assert cut["budget_tokens"] == round(0.5 * full["input_tokens"]), cut
                if cut["status"] == "ok":
                    assert cut["input_tokens"] <= cut["budget_tokens"], cut
                    assert cut["prompt_tokens"] < full["prompt_tokens"], cut
                    assert cut["applied"] == arm.split()[0]
                    assert cut["dropped_sentences"] >= 1
                else:
                    assert cut["status"] == "invalid_json", cut
    assert "## Targets (issue 10 §3)" in results and "## Every page" in results
