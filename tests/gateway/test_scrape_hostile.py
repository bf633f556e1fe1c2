"""Hostile pages and addresses the outside test found (issue 8, section 2), each pinned.

Every page is served on loopback; every refused address goes to a transport that records
any request, so "no connection made" is checked, not assumed.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_network
from urllib.parse import quote

import anyio
import httpx
import pytest

from gateway.scrape import ScrapeError, Scraper
from shared import defaults as d
from tests.gateway.pages import ARTICLE_TEXT, LONG_TITLE_WORDS, gzip_bomb, site
from tests.gateway.test_scrape import CLIENT, refused, resolver, settings
from tests.servers import serve

pytestmark = pytest.mark.anyio
MB = 1024 * 1024


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    with serve(site(64 * 1024)) as base:
        yield base


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as c:
        yield c


def streamed(body: bytes, headers: dict[str, str]) -> httpx.Response:
    """A response whose body arrives as a stream, as from a real server (httpx reads and
    inflates a body given as bytes when the response is made)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return httpx.Response(200, content=chunks(), headers=headers)


class Recorder:
    """A transport that answers with an article and remembers every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return streamed(ARTICLE_TEXT.encode(), {"Content-Type": "text/plain"})


# --- 2.2: a page that drips bytes is cut at the scrape's deadline ----------------------


@pytest.mark.parametrize("path", ["/drip?every=0.2", "/to?url=/drip%3Fevery%3D0.2"])
async def test_dripping_page_is_cut_at_the_deadline(
    site_url: str, client: httpx.AsyncClient, path: str
) -> None:
    """Each read is quick (0.2 s < the 1 s read timeout), so only an overall deadline ends it."""
    scraper = Scraper(settings(deadline_s=2.0, read_timeout_s=1.0, max_bytes=MB), client)
    started = time.monotonic()
    with anyio.fail_after(60):  # bounded wait: without a deadline the drip never ends
        err = await refused(scraper, f"{site_url}{path}")
    assert err.code == "deadline_exceeded", err.detail
    assert "2" in err.detail
    assert time.monotonic() - started >= 2.0  # cut by the deadline, not by something else


async def test_concurrent_scrapes_are_bounded_per_client_and_in_total(
    site_url: str, client: httpx.AsyncClient
) -> None:
    limits = {"max_concurrent": 4, "max_concurrent_per_client": 2, "deadline_s": 3.0}
    scraper = Scraper(settings(**limits), client)
    drip = f"{site_url}/drip?every=0.2"
    errors: list[ScrapeError] = []

    async def held(key: str) -> None:
        with pytest.raises(ScrapeError) as info:
            await scraper.scrape(drip, key)
        errors.append(info.value)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for key in ("a", "a", "b", "b"):
                tg.start_soon(held, key)
            await anyio.sleep(0.5)  # all four are holding a slot now
            mine = await refused_as(scraper, f"{site_url}/article", "a")
            assert mine.code == "too_many_scrapes" and mine.status == 429
            assert mine.retry_after and mine.retry_after > 0
            anyone = await refused_as(scraper, f"{site_url}/article", "c")
            assert anyone.code == "scrapes_busy" and anyone.status == 429
        assert [e.code for e in errors] == ["deadline_exceeded"] * 4
        # Every slot is given back: the same clients scrape again.
        for key in ("a", "b", "c"):
            assert (await scraper.scrape(f"{site_url}/article", key)).word_count > 100


async def refused_as(scraper: Scraper, url: str, key: str) -> ScrapeError:
    with pytest.raises(ScrapeError) as info:
        await scraper.scrape(url, key)
    return info.value


# --- 2.3: compressed pages are inflated in small pieces, capped as they grow -----------


async def test_gzip_bomb_is_refused_without_inflating_it_in_memory(
    site_url: str, client: httpx.AsyncClient
) -> None:
    assert len(gzip_bomb()) < MB  # built before measuring: 256 MB of zeros as ~250 KB
    scraper = Scraper(settings(max_bytes=d.SCRAPE_MAX_BYTES), client)
    await scraper.scrape(f"{site_url}/article", CLIENT)  # warm up: imports, connections
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        err = await refused(scraper, f"{site_url}/gzip-bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.code == "too_large", err.detail
    assert peak < 50 * MB, f"peak {peak / MB:.0f} MB while refusing a 5 MB-capped page"


@pytest.mark.parametrize("path", ["/gzip-article", "/deflate-article", "/raw-deflate-article"])
async def test_compressed_articles_are_read(
    site_url: str, client: httpx.AsyncClient, path: str
) -> None:
    article = await Scraper(settings(), client).scrape(f"{site_url}{path}", CLIENT)
    assert article.title == "Springfield approves $20 million river bridge"


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip"])
async def test_other_content_encodings_are_refused(
    site_url: str, client: httpx.AsyncClient, coding: str
) -> None:
    err = await refused(Scraper(settings(), client), f"{site_url}/encoded/{quote(coding)}")
    assert err.code == "unsupported_encoding", err.detail


async def test_only_gzip_and_deflate_are_asked_for() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        await Scraper(settings(), c).scrape("http://127.0.0.1/", CLIENT)
    assert recorder.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_corrupt_gzip_is_a_clear_error() -> None:
    def corrupt(_: httpx.Request) -> httpx.Response:
        body = b"\x1f\x8b\x08\x00garbage" * 10
        return streamed(body, {"Content-Type": "text/html", "Content-Encoding": "gzip"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(corrupt)) as c:
        err = await refused(Scraper(settings(), c), "http://127.0.0.1/")
    assert err.code == "bad_encoding", err.detail


# --- 2.4: every address that is not globally routable, embedded ones too ---------------


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://100.100.100.200/latest/meta-data/",  # a cloud metadata address, in CGNAT
        "http://100.127.255.254/",
        "http://192.0.0.8/",  # IETF protocol assignments
        "http://192.88.99.1/",  # the old 6to4 relay anycast
        "http://198.18.0.1/",  # benchmarking
        "http://255.255.255.255/",
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[2002:6464:64c8::]/",  # 6to4 of 100.100.100.200
        "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::6464:64c8]/",  # NAT64 of 100.100.100.200
        "http://[64:ff9b:1::a00:1]/",  # local-use NAT64
        "http://[::ffff:100.100.100.200]/",  # IPv4-mapped
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[::a9fe:a9fe]/",
        "http://[fec0::1]/",  # site-local
        "http://[fc00::1]/",  # unique local
        "http://[ff02::1]/",  # multicast
        "http://[3fff::1]/",  # documentation
        "http://cgnat.example/",  # names that resolve to the above
        "http://sixtofour.example/",
        "http://nat64.example/",
        "http://mixed.example/",
    ],
)
async def test_addresses_that_are_not_global_are_refused_without_connecting(url: str) -> None:
    table = {
        "cgnat.example": ["100.100.100.200"],
        "sixtofour.example": ["2002:7f00:1::"],
        "nat64.example": ["64:ff9b::a00:1"],
        "mixed.example": ["2606:4700::1111", "100.64.0.1"],
    }
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        err = await refused(Scraper(settings(allowed_networks=[]), c, resolver(table)), url)
    assert err.code == "blocked_address", err.detail
    assert recorder.requests == []


async def test_allowed_networks_still_allow_what_they_name() -> None:
    recorder = Recorder()
    allowed = [ip_network("100.64.0.0/10"), ip_network("2002::/16")]
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        scraper = Scraper(settings(allowed_networks=allowed), c)
        await scraper.scrape("http://100.100.100.200/", CLIENT)
        await scraper.scrape("http://[2002:7f00:1::]/", CLIENT)
    assert len(recorder.requests) == 2


async def test_global_addresses_are_fetched() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        scraper = Scraper(settings(allowed_networks=[]), c, resolver({}))
        await scraper.scrape("http://93.184.216.34/", CLIENT)
        await scraper.scrape("http://[2606:4700::1111]/", CLIENT)
    assert [r.url.host for r in recorder.requests] == ["93.184.216.34", "2606:4700::1111"]


# --- 2.5: URLs with control characters or whitespace, unknown charsets -----------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a\tb",
        "http://127.0.0.1/a\nb",
        "http://127.0.0.1/a\rb",
        "http://127.0.0.1/a\x00b",
        "http://127.0.0.1/a\x7fb",
        "http://127.0.0.1/a\x85b",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/a\u2028b",
        "http://127.0.0.1\t/",
        " http://127.0.0.1/",
        "http://127.0.0.1/\t",
    ],
)
async def test_urls_with_control_characters_or_spaces_are_invalid(url: str) -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        err = await refused(Scraper(settings(), c), url)
    assert err.code == "invalid_url", err.detail
    assert recorder.requests == []


@pytest.mark.parametrize("location", ["/article\tx", "/article x", "http://[::1/"])
async def test_a_redirect_to_an_invalid_url_is_refused(
    site_url: str, client: httpx.AsyncClient, location: str
) -> None:
    """Refused as a ScrapeError, never another exception (httpx itself refuses some of these
    Location headers while reading the response: that is `fetch_failed`)."""
    url = str(httpx.URL(f"{site_url}/to-raw", params={"url": location}))
    err = await refused(Scraper(settings(), client), url)
    assert err.code in ("invalid_url", "fetch_failed"), err.detail


async def test_a_host_name_that_cannot_be_encoded_is_invalid() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as c:
        err = await refused(Scraper(settings(), c), f"http://{'a' * 64}.example/")
    assert err.code == "invalid_url", err.detail
    assert recorder.requests == []


@pytest.mark.parametrize("charset", ["x-no-such-charset", "rot13", "zlib_codec", "idna"])
async def test_plain_text_with_an_unusable_charset_is_read_as_utf8(
    site_url: str, client: httpx.AsyncClient, charset: str
) -> None:
    article = await Scraper(settings(), client).scrape(f"{site_url}/charset/{charset}", CLIENT)
    assert article.text == ARTICLE_TEXT.strip()


@pytest.mark.parametrize("charset", ["x-no-such-charset", "rot13"])
async def test_bad_input_an_unusable_charset_on_text_that_is_not_utf8_is_422_bad_encoding(
    site_url: str, client: httpx.AsyncClient, charset: str
) -> None:
    """Regression: a LookupError was a 500 carrying the exception's text."""
    with pytest.raises(ScrapeError) as caught:
        await Scraper(settings(), client).scrape(f"{site_url}/charset/{charset}?latin1=1", CLIENT)
    assert caught.value.code == "bad_encoding" and caught.value.status == 422
    assert charset in caught.value.detail


# --- 2.6: titles are bounded ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/long-title-plain", "/long-title-html"])
async def test_long_titles_are_cut_at_a_word_boundary(
    site_url: str, client: httpx.AsyncClient, path: str
) -> None:
    article = await Scraper(settings(), client).scrape(f"{site_url}{path}", CLIENT)
    assert article.title is not None
    assert len(article.title) <= d.ARTICLE_TITLE_MAX_CHARS
    assert article.title.endswith("…")
    words = article.title.removesuffix("…").split()
    assert words == LONG_TITLE_WORDS[: len(words)]  # whole words only, in order
    assert len(words) > 30
