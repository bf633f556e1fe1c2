"""Scraping: safe fetching (each refusal named) and extraction, against a local site."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from gateway.scrape import ScrapeError, Scraper
from shared.settings import ScrapeSettings
from tests.gateway.pages import site
from tests.servers import serve

BIG = 64 * 1024
CLIENT = "203.0.113.7"  # the client address the gateway passes for concurrency limits
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    with serve(site(BIG)) as base:
        yield base


def settings(**overrides: Any) -> ScrapeSettings:
    values: dict[str, Any] = {
        "max_bytes": BIG,
        "read_timeout_s": 1.0,
        "connect_timeout_s": 1.0,
        "allowed_networks": [ip_network("127.0.0.1/32")],
        **overrides,
    }
    return ScrapeSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as c:
        yield c


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


async def refused(scraper: Scraper, url: str) -> ScrapeError:
    with pytest.raises(ScrapeError) as info:
        await scraper.scrape(url, CLIENT)
    return info.value


async def test_html_article_with_metadata(site_url: str, client: httpx.AsyncClient) -> None:
    article = await Scraper(settings(), client).scrape(f"{site_url}/article", CLIENT)
    assert article.title == "Springfield approves $20 million river bridge"
    assert article.text.startswith("The Springfield city council voted 7 to 2")
    assert "Subscribe to our newsletter" not in article.text
    assert article.byline == "Ada Brennan"
    assert article.date is not None and article.date.startswith("2026-03-10")
    assert article.site_name == "The Springfield Courier"
    assert article.language == "en-GB"
    assert article.word_count > 100


async def test_plain_text_is_taken_as_it_is(site_url: str, client: httpx.AsyncClient) -> None:
    article = await Scraper(settings(), client).scrape(f"{site_url}/plain", CLIENT)
    assert article.title == "Springfield approves $20 million river bridge"
    assert "Willow River" in article.text


async def test_redirects_are_followed_up_to_the_limit(
    site_url: str, client: httpx.AsyncClient
) -> None:
    scraper = Scraper(settings(max_redirects=5), client)
    article = await scraper.scrape(f"{site_url}/hop/5", CLIENT)
    assert article.final_url.endswith("/article")
    err = await refused(scraper, f"{site_url}/hop/6")
    assert err.code == "too_many_redirects"


async def test_connection_goes_to_the_checked_address_with_the_name_kept(
    site_url: str, client: httpx.AsyncClient
) -> None:
    port = int(site_url.rsplit(":", 1)[1])
    scraper = Scraper(settings(), client, resolver({"news.example": ["127.0.0.1"]}))
    article = await scraper.scrape(f"http://news.example:{port}/echo-host", CLIENT)
    assert f"Host news.example:{port}" in article.text


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/file", "unsupported_scheme"),
        ("file:///etc/passwd", "unsupported_scheme"),
        ("javascript:alert(1)", "unsupported_scheme"),
        ("not a url", "unsupported_scheme"),
        ("http://", "invalid_url"),
        ("http://user:secret@news.example/", "invalid_url"),
        ("http://news.example:99999/", "invalid_url"),
        ("http://127.0.0.2/", "blocked_address"),
        ("http://[::1]/", "blocked_address"),
        ("http://0.0.0.0/", "blocked_address"),
        ("http://[::ffff:127.0.0.1]/", "blocked_address"),
        ("http://10.0.0.1/", "blocked_address"),
        ("http://192.168.1.1/", "blocked_address"),
        ("http://172.16.0.1/", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("http://224.0.0.1/", "blocked_address"),
        ("http://240.0.0.1/", "blocked_address"),
        ("http://private.example/", "blocked_address"),
        ("http://rebind.example/", "blocked_address"),
        ("http://nowhere.example/", "dns_failed"),
    ],
)
async def test_refusals_before_any_connection(
    client: httpx.AsyncClient, url: str, code: str
) -> None:
    table = {"private.example": ["10.1.2.3"], "rebind.example": ["93.184.216.34", "127.0.0.1"]}
    scraper = Scraper(settings(allowed_networks=[]), client, resolver(table))
    err = await refused(scraper, url)
    assert err.code == code, err.detail


async def test_redirect_to_a_private_address_is_refused(
    site_url: str, client: httpx.AsyncClient
) -> None:
    port = int(site_url.rsplit(":", 1)[1])
    scraper = Scraper(settings(), client)
    for target in (f"http://127.0.0.2:{port}/article", f"http://[::1]:{port}/article"):
        err = await refused(scraper, f"{site_url}/to?url={target}")
        assert err.code == "blocked_address", target


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/missing", "upstream_status"),
        ("/image", "unsupported_content_type"),
        ("/short", "too_few_words"),
        ("/big-streamed", "too_large"),
        ("/big-declared", "too_large"),
        ("/slow", "timeout"),
    ],
)
async def test_pages_that_are_not_articles(
    site_url: str, client: httpx.AsyncClient, path: str, code: str
) -> None:
    err = await refused(Scraper(settings(), client), f"{site_url}{path}")
    assert err.code == code, err.detail
