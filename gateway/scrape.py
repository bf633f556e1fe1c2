"""Fetch an article safely (no private addresses, bounded size and time) and extract it.

Every hop is resolved and checked before it is contacted, and the connection goes to the
address that was checked (the Host header and TLS SNI keep the name), so a DNS answer that
changes between the check and the connection cannot point the gateway at Redis or the
factory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import trafilatura

from shared.settings import ScrapeSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = {301, 302, 303, 307, 308}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"text/plain"}
_LANG = re.compile(rb"<html[^>]*?\slang\s*=\s*[\"']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)", re.I)


class ScrapeError(Exception):
    """A URL the gateway will not or cannot turn into an article; `code` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class Fetched:
    url: str
    content_type: str
    charset: str | None
    body: bytes


@dataclass
class Article:
    url: str
    final_url: str
    title: str | None
    text: str
    byline: str | None
    date: str | None
    site_name: str | None
    language: str | None

    @property
    def word_count(self) -> int:
        return len(self.text.split())


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _blocked_reason(ip: Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _blocked_reason(ip.ipv4_mapped)
    checks = [
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ]
    return next((name for name, hit in checks if hit), None)


class Scraper:
    """Fetches with one shared httpx client; see ScrapeSettings for every limit."""

    def __init__(
        self,
        settings: ScrapeSettings,
        client: httpx.AsyncClient,
        resolve: Resolver = system_resolve,
    ) -> None:
        self.settings = settings
        self.client = client
        self.resolve = resolve

    def _allowed(self, ip: Address) -> bool:
        return any(ip in net for net in self.settings.allowed_networks)

    async def _checked_address(self, host: str, port: int) -> str:
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [str(literal)]
        else:
            try:
                candidates = await self.resolve(host, port)
            except OSError as exc:
                raise ScrapeError("dns_failed", f"could not resolve {host}: {exc}") from exc
            if not candidates:
                raise ScrapeError("dns_failed", f"{host} has no address")
        for candidate in candidates:  # every answer must be public, not just the first
            ip = ipaddress.ip_address(candidate.split("%")[0])
            reason = _blocked_reason(ip)
            if reason and not self._allowed(ip):
                raise ScrapeError("blocked_address", f"{host} resolves to {ip}, a {reason} address")
        return candidates[0]

    def _split(self, url: str) -> tuple[str, str, int]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ScrapeError("invalid_url", f"not a valid URL: {exc}") from exc
        if parts.scheme not in ("http", "https"):
            raise ScrapeError(
                "unsupported_scheme", f"only http and https URLs are fetched, not {parts.scheme!r}"
            )
        if not parts.hostname:
            raise ScrapeError("invalid_url", "the URL has no host")
        if parts.username or parts.password:
            raise ScrapeError("invalid_url", "URLs with credentials are not fetched")
        return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)

    async def fetch(self, url: str) -> Fetched:
        for _ in range(self.settings.max_redirects + 1):
            scheme, host, port = self._split(url)
            ip = await self._checked_address(host, port)
            target = httpx.URL(url).copy_with(host=ip)
            default_port = port == (443 if scheme == "https" else 80)
            headers = {
                "Host": host if default_port else f"{host}:{port}",
                "User-Agent": self.settings.user_agent,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9",
            }
            extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" else {}
            request = self.client.build_request(
                "GET", target, headers=headers, extensions=extensions
            )
            try:
                response = await self.client.send(request, stream=True, follow_redirects=False)
            except httpx.TimeoutException as exc:
                raise ScrapeError("timeout", f"{host} did not answer in time") from exc
            except httpx.HTTPError as exc:
                raise ScrapeError("fetch_failed", f"could not fetch {url}: {exc}") from exc
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                return await self._read(url, response)
            finally:
                await response.aclose()
        raise ScrapeError(
            "too_many_redirects", f"more than {self.settings.max_redirects} redirects"
        )

    async def _read(self, url: str, response: httpx.Response) -> Fetched:
        if response.status_code != 200:
            raise ScrapeError("upstream_status", f"the page answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media not in _HTML_TYPES | _TEXT_TYPES:
            raise ScrapeError(
                "unsupported_content_type", f"{media or 'no content type'} is not HTML or text"
            )
        limit = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ScrapeError("too_large", f"the page is {declared} bytes; the limit is {limit}")
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise ScrapeError("too_large", f"the page is over the {limit}-byte limit")
        except httpx.TimeoutException as exc:
            raise ScrapeError("timeout", "the page stopped sending") from exc
        except httpx.HTTPError as exc:
            raise ScrapeError("fetch_failed", f"reading the page failed: {exc}") from exc
        return Fetched(url, media, response.charset_encoding, bytes(body))

    async def scrape(self, url: str) -> Article:
        fetched = await self.fetch(url)
        article = await asyncio.to_thread(extract, fetched)
        article.url = url
        if article.word_count < self.settings.min_words:
            raise ScrapeError(
                "too_few_words",
                f"only {article.word_count} words of article text were found "
                f"(at least {self.settings.min_words} are needed)",
            )
        return article


def extract(fetched: Fetched) -> Article:
    """Article text and metadata with trafilatura (plain text is taken as it is)."""
    if fetched.content_type in _TEXT_TYPES:
        text = fetched.body.decode(fetched.charset or "utf-8", errors="replace").strip()
        first = text.splitlines()[0].strip() if text else None
        return Article(fetched.url, fetched.url, first, text, None, None, None, None)
    doc = trafilatura.bare_extraction(
        fetched.body, url=fetched.url, with_metadata=True, include_comments=False
    )
    found = _LANG.search(fetched.body[:20_000])
    language = found.group(1).decode() if found else None
    if doc is None:
        return Article(fetched.url, fetched.url, None, "", None, None, None, language)
    meta = doc if isinstance(doc, dict) else doc.as_dict()
    title, text = meta.get("title"), meta.get("text") or ""
    head, _, rest = text.partition("\n")
    if title and head.strip() == title.strip():
        text = rest.lstrip()  # the headline, already in `title`
    return Article(
        url=fetched.url,
        final_url=fetched.url,
        title=title,
        text=text,
        byline=meta.get("author"),
        date=meta.get("date"),
        site_name=meta.get("sitename"),
        language=meta.get("language") or language,
    )
