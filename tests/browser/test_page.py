"""The web page at `/` in headless chromium, against the real mesh (factory, worker, Redis)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, expect

from gateway.app import create_app
from shared.settings import GatewaySettings, StoreSettings
from tests.browser.conftest import Proxy
from tests.e2e.conftest import Mesh
from tests.servers import serve

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


def unique_article(tag: str) -> str:
    """A fresh text each run: the same text again would be the cached earlier job."""
    return (FIXTURES / "bridge.txt").read_text() + f"\n\nFiled under {tag}."


def test_article_markup_is_shown_as_text_and_never_runs(page: Page, mesh: Mesh) -> None:
    hostile = (
        "<script>window.pwned = 'script'</script> The council said the <b>bridge</b> will "
        "close. <img src=x onerror=\"window.pwned = 'img'\"> Engineers found cracks.\n\n"
    )
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.goto(mesh.gateway + "/")
    submit_text(page, hostile + unique_article("xss"), {"highlights", "entities"})
    expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)
    expect(page.locator("#article")).to_contain_text("<script>window.pwned = 'script'</script>")
    expect(page.locator("#article")).to_contain_text('<img src=x onerror="window.pwned')
    assert page.locator("#job img, #job script, #job b").count() == 0
    assert page.evaluate("window.pwned") is None
    assert alerts == []


def test_keyboard_only_submission_at_phone_width(page: Page, mesh: Mesh) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(mesh.gateway + "/")
    expect(page.locator("#text-size")).to_contain_text("bytes")
    for _ in range(30):  # Tab through the form; type the text, keep highlights only
        page.keyboard.press("Tab")
        focused = page.evaluate("[document.activeElement.id, document.activeElement.value]")
        if focused[0] == "text":
            page.keyboard.insert_text(unique_article("keyboard"))
        elif focused[1] in ("summary", "entities", "audio"):
            page.keyboard.press("Space")
        elif focused[0] == "go":
            break
    assert focused[0] == "go"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Enter")
    expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)
    expect(page.locator("#highlights li").first).to_be_visible()
    expect(page.locator("#summary-box")).to_be_hidden()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll at 390 px: {width}"


def test_bad_input_is_explained_in_plain_words(page: Page, mesh: Mesh) -> None:
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(mesh.gateway + "/")

    page.click("#go")  # nothing typed
    expect(page.locator("#form-error")).to_contain_text("Paste an article")

    page.fill("#text", "x" * 2_000_000)  # 2 MB: refused before it is sent
    expect(page.locator("#text-size")).to_contain_text("Too long")
    page.click("#go")
    expect(page.locator("#form-error")).to_contain_text("at most 200,000")
    assert posts == []

    page.fill("#text", "")
    page.fill("#url", "http://10.0.0.1/")
    page.click("#go")
    expect(page.locator("#form-error")).to_contain_text("blocked_address")
    expect(page.locator("#form-error")).to_contain_text("Reason:")
    assert len(posts) == 1


def test_an_unreachable_gateway_gets_a_message_and_a_retry(page: Page, proxy: Proxy) -> None:
    page.goto(proxy.url + "/")
    expect(page.locator("#text-size")).to_contain_text("bytes")
    proxy.stop()
    submit_text(page, unique_article("offline"), {"highlights"})
    expect(page.locator("#offline")).to_contain_text("cannot be reached")
    expect(page.locator("#retry")).to_be_focused()
    proxy.start()  # the gateway is back, on the same address
    page.keyboard.press("Enter")
    expect(page.locator("#offline")).to_be_hidden()
    expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)


def test_docs_render_offline_with_nothing_fetched_elsewhere(page: Page, mesh: Mesh) -> None:
    elsewhere: list[str] = []

    def only_the_gateway(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_gateway)
    page.goto(mesh.gateway + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Segmento Pulse")
    assert elsewhere == []


def test_with_an_api_key_the_page_asks_for_it_and_streams_with_the_read_token(
    page: Page, mesh: Mesh, tmp_path: Path
) -> None:
    settings = GatewaySettings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=mesh.redis_url,
        factory_url=mesh.factory_url,
        api_key="browser-key",
        min_words=20,
        submissions_per_minute=1000,
        store=StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "s.sqlite3", audio_dir=tmp_path / "audio"
        ),
    )
    with serve(create_app(settings)) as gateway:
        page.goto(gateway + "/")
        expect(page.locator("#api-key")).to_be_visible()
        submit_text(page, unique_article("api key"), {"highlights"})
        expect(page.locator("#form-error")).to_contain_text("The API key is missing or wrong.")
        page.fill("#api-key", "browser-key")
        page.click("#go")
        expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)
        expect(page.locator("#highlights li").first).to_be_visible()
        assert page.evaluate("job.token")  # the events came with the job's read token only


def test_a_failed_job_shows_its_reason(page: Page, mesh: Mesh) -> None:
    """The stream is replaced by a job's failure as the worker reports one (making a real
    job fail needs a broken factory): the page shows the reason and stops listening."""
    failure = {"error": "job_failed", "detail": "summary failed: the factory answered 500"}
    stream = (
        'id: 1\nevent: status\ndata: {"stage": "summarizing", "progress": 0.2}\n\n'
        f"id: 2\nevent: error\ndata: {json.dumps(failure)}\n\n"
    )
    page.route(
        re.compile(r".*/queue/[^/]+/events.*"),
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=stream),
    )
    page.goto(mesh.gateway + "/")
    submit_text(page, unique_article("failure"), {"highlights"})
    expect(page.locator("#job-error")).to_contain_text(failure["detail"])
    expect(page.locator("#stage")).to_have_text("Failed.")
    assert page.evaluate("job.source.readyState") == 2  # closed: no reconnect


def test_a_url_job_lists_its_highlights(page: Page, mesh: Mesh) -> None:
    """The gateway scrapes the page and does not hand its text back: the page says so."""
    page.goto(mesh.gateway + "/")
    page.fill("#url", f"{mesh.site}/article")
    for box in page.locator("input[name=task]").all():
        box.set_checked(box.get_attribute("value") == "highlights")
    page.click("#go")
    expect(page.locator("#stage")).to_have_text("Done.", timeout=LONG)
    expect(page.locator("#highlights")).to_contain_text("does not send its text")
    expect(page.locator("#article-box")).to_be_hidden()
