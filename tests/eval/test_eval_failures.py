"""`make eval` with the factory down, or a page that fails: reported with the reason, and the
run goes on to the other pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval import run
from tests.eval.standin import standin_factory
from tests.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _pages(out: Path) -> dict[str, dict[str, object]]:
    data = json.loads((out / "results.json").read_text())
    return {p["name"]: p for p in data["pages"]}


def test_factory_down_is_reported_per_page_and_the_run_ends(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["--factory-url", closed, "--out", str(tmp_path), "--budgets", "0.5"]
    done = subprocess.run(
        [sys.executable, "eval/run.py", *args, "--pages", "fixtures/chips,fixtures/bridge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # nothing measured: make eval fails
    results = (tmp_path / "RESULTS.md").read_text()
    pages = _pages(tmp_path)
    assert set(pages) == {"fixtures/chips", "fixtures/bridge"}
    for page in pages.values():
        assert "factory unreachable" in str(page["highlights_error"])
        arms = {a["arm"]: a for a in page["arms"]}  # type: ignore[attr-defined]
        assert list(arms) == ["full", "head 50%", "ranked 50%"]
        assert arms["full"]["status"] == "failed"
        assert "factory unreachable" in arms["full"]["reason"]
        assert all(a["status"] == "failed" for a in arms.values())
    assert results.count("failed: factory unreachable") >= 4
    for name in ("speed.png", "quality.png", "grounding.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)


def test_a_failing_page_is_reported_and_the_others_are_measured(tmp_path: Path) -> None:
    bridge = (ROOT / "tests" / "fixtures" / "articles" / "bridge.txt").read_text()
    assert "Willow River" in bridge
    with serve(standin_factory(fail_on="Willow River")) as url:
        pages = "fixtures/chips,articles/no-such-page,fixtures/bridge"
        code = run.main(
            ["--factory-url", url, "--out", str(tmp_path), "--budgets", "0.5", "--pages", pages]
        )
    assert code == 0
    pages = _pages(tmp_path)
    assert list(pages) == ["fixtures/chips", "articles/no-such-page", "fixtures/bridge"]
    assert "no-such-page" in str(pages["articles/no-such-page"]["error"])

    chips = {a["arm"]: a for a in pages["fixtures/chips"]["arms"]}  # type: ignore[attr-defined]
    assert chips["full"]["status"] == "ok"
    words = len((ROOT / "tests/fixtures/articles/chips.txt").read_text().split("\n", 1)[1].split())
    assert chips["full"]["input_tokens"] == words  # the stand-in counts words as tokens
    assert chips["ranked 50%"]["budget_tokens"] == round(0.5 * words)
    assert chips["ranked 50%"]["input_tokens"] == round(0.5 * words)
    assert chips["head 50%"]["status"] == "invalid_json"
    assert chips["full"]["claims"] == 2 and chips["full"]["unsupported"] == 1

    broken = {a["arm"]: a for a in pages["fixtures/bridge"]["arms"]}  # type: ignore[attr-defined]
    assert "boom" in str(pages["fixtures/bridge"]["highlights_error"])
    assert broken["full"]["status"] == "failed"
    assert (
        "HTTP 500" in broken["full"]["reason"] and "boom on this page" in broken["full"]["reason"]
    )

    results = (tmp_path / "RESULTS.md").read_text()
    assert "page failed: no corpus page 'articles/no-such-page'" in results or (
        "page failed: the corpus is absent" in results
    )
    assert "failed: HTTP 500 internal: boom on this page" in results
    assert "| full | 1/2 | 1/1 |" in results  # chips ok, bridge failed
    assert "| head 50% | 0/2 | 0/1 |" in results  # chips invalid JSON, bridge failed


@pytest.mark.slow  # starts a real factory, which loads the embedder before the LLM fails
def test_a_factory_that_cannot_load_its_model_is_reported_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "FACTORY_LLM_MODEL_PATH": str(tmp_path / "missing.gguf")}
    done = subprocess.run(
        [sys.executable, "eval/run.py", "--pages", "fixtures/chips", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # not the 600 s a model download may take: a failed model ends the wait
    )
    assert done.returncode == 1
    results = (tmp_path / "RESULTS.md").read_text()
    assert "**The run failed:** the factory did not start: the llm model failed to load" in results
    assert "missing.gguf" in results
    page = _pages(tmp_path)["fixtures/chips"]
    assert str(page["error"]).startswith("the factory did not start")
