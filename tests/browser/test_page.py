"""The web page at `/` in headless chromium, against the real mesh (factory, worker, Redis)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Proxy
from tests.e2e.conftest import Mesh

FIXTURES = Path(__file__).parent.parent / "fixtures" / "articles"
LONG = 240_000  # ms: the bundled model is quick, but 2 shared cores are not


def submit_text(page: Page, text: str, tasks: set[str] | None = None) -> None:
    page.fill("#text", text)
    for box in page.locator("input[name=task]").all():
        box.set_checked(tasks is None or box.get_attribute("value") in tasks)
    page.click("#go")


def stored(mesh: Mesh, page: Page) -> dict[str, Any]:
    job_id = page.evaluate("job.id")
    body: dict[str, Any] = httpx.get(f"{mesh.gateway}/queue/{job_id}", timeout=30).json()
    return body


def test_a_text_job_resumes_after_a_cut_without_duplicated_text(
    page: Page, proxy: Proxy, mesh: Mesh, tmp_path: Path
) -> None:
    article = (FIXTURES / "chips.txt").read_text()
    page.goto(proxy.url + "/")
    expect(page.locator("#text-size")).to_contain_text("200,000")  # the limit, before submitting
    submit_text(page, article)

    expect(page.locator("#highlights li").first).to_be_visible(timeout=LONG)
    expect(page.locator("#article mark.hl").first).to_be_visible()
    proxy.cut()  # the event stream drops mid-job (before the first token)
    expect(page.locator("#summary")).not_to_be_empty(timeout=LONG)
    proxy.cut()  # and again while the summary streams in
    expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)
    assert proxy.count(b"/events") >= 2, proxy.requests  # EventSource reconnected by itself

    result = stored(mesh, page)["result"]
    summary = result["summary"]
    expect(page.locator("#summary")).to_have_text(summary["main_summary"])
    assert page.get_attribute("#summary", "data-corrected") is None  # tokens were exact
    expect(page.locator("#title")).to_have_text(summary["title"])
    expect(page.locator("#key-points button")).to_have_count(len(summary["key_points"]))
    expect(page.locator("#meta")).to_contain_text("Reading time")
    expect(page.locator("#entities .entity-group h3").first).to_be_visible()
    audio = re.compile(r"/queue/[^/]+/audio")
    expect(page.locator("#audio")).to_have_attribute("src", audio, timeout=LONG)

    page.locator("#key-points button").first.click()
    expect(page.locator("#key-points button").first).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#key-points .sources li").first).to_be_visible()
    unsupported = [c for c in result["provenance"]["claims"] if c["unsupported"]]
    if unsupported:
        expect(page.locator(".flag, #unsupported-summary li").first).to_be_visible()

    shot = tmp_path / "finished-page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the finished page: {shot}")
