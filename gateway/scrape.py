"""Fetch an article safely (no private addresses, bounded size and time) and extract it.

Every hop is resolved and checked before it is contacted, and the connection goes to the
address that was checked (the Host header and TLS SNI keep the name), so a DNS answer that
changes between the check and the connection cannot point the gateway at Redis or the
factory.

A scrape also holds a slot (bounded per client and in total) and has one deadline for the
whole fetch; compressed bodies are inflated a piece at a time and capped as they grow.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from gateway.extraction import NotAnArticle, PageTooComplex, count_words, extract_html
from gateway.limits import ConcurrencyLimiter, LimitReached
from shared import defaults as d
from shared.settings import ScrapeSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = {301, 302, 303, 307, 308}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"text/plain"}
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]|\s")  # controls and any whitespace
_LINE_BREAK = re.compile(r"[\r\n]")
_ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater reads; anything else is refused
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Not globally reachable, though Python 3.11's `is_global` lets them through.
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "100.64.0.0/10",  # carrier-grade NAT (cloud metadata lives at 100.100.100.200)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast
        "fec0::/10",  # site-local
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "64:ff9b:1::/48",  # local-use NAT64
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class ScrapeError(Exception):
    """A URL the gateway will not or cannot turn into an article; `code` is stable, `status`
    the HTTP status to answer with (429 with `retry_after` when no scrape slot is free)."""

    def __init__(
        self, code: str, detail: str, *, status: int = 422, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


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
        return count_words(self.text)


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _kind(ip: Address) -> str | None:
    """What kind of address `ip` is when it is not a public one, else None."""
    checks = [
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("special-purpose", any(ip in net for net in _NOT_GLOBAL)),
        ("non-global", not ip.is_global),
    ]
    return next((name for name, hit in checks if hit), None)


def _embedded(ip: ipaddress.IPv6Address) -> Iterator[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        yield "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        yield "6to4", ip.sixtofour
    if ip.teredo is not None:
        yield "Teredo server", ip.teredo[0]
        yield "Teredo client", ip.teredo[1]
    if ip in _NAT64:
        yield "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 0xFFFF:
        yield "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def blocked_reason(ip: Address) -> str | None:
    """Why the gateway will not connect to `ip` (None: it is globally routable)."""
    if isinstance(ip, ipaddress.IPv6Address):
        for how, inner in _embedded(ip):
            kind = _kind(inner)
            if kind:
                return f"a {how} address of {inner}, a {kind} address"
    kind = _kind(ip)
    return f"a {kind} address" if kind else None


def bounded_title(title: str | None, max_chars: int = d.ARTICLE_TITLE_MAX_CHARS) -> str | None:
    """One line of at most `max_chars`, cut at a word boundary and marked with an ellipsis."""
    if title is None:
        return None
    title = " ".join(title.split())
    if len(title) <= max_chars:
        return title or None
    cut = title[: max_chars - 1]
    space = cut.rfind(" ")
    if title[max_chars - 1] != " " and space > 0:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _decode_text(body: bytes, charset: str | None) -> str:
    """Text in the declared charset. A charset that is unknown or not a text codec is
    ignored when the body is UTF-8 (as a browser falls back to a default), else refused."""
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except (LookupError, ValueError, TypeError):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ScrapeError(
                "bad_encoding",
                f"the page declares the charset {charset!r}, which is not a text encoding, "
                "and it is not UTF-8 either",
            ) from None
    return text.encode("utf-8", errors="replace").decode()  # no lone surrogates (UTF-7)


def _content_coding(header: str) -> str | None:
    """ "gzip" or "deflate" for a compressed body, None for identity; others are refused."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return "deflate" if codings[0] == "deflate" else "gzip"
    raise ScrapeError(
        "unsupported_encoding", f"the page is sent as {header!r}; only gzip and deflate are read"
    )


class _Inflater:
    """Inflates a gzip or deflate body in pieces of at most `piece` bytes, so that a small
    body that expands enormously is caught before it is held in memory."""

    def __init__(self, coding: str, piece: int) -> None:
        self.piece = piece
        self._head = b""  # deflate: zlib-wrapped or raw, told by the first two bytes
        self._z = zlib.decompressobj(_GZIP_WBITS) if coding == "gzip" else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        z = self._z
        try:
            while data and not z.eof:
                out = z.decompress(data, self.piece)
                yield out
                data = z.unconsumed_tail
            while not z.eof:  # output still owed for input already taken
                out = z.decompress(b"", self.piece)
                if not out:
                    break
                yield out
        except zlib.error as exc:
            raise _corrupt(exc) from exc

    def finish(self) -> Iterator[bytes]:
        if self._z is None:
            raise ScrapeError("bad_encoding", "the page's compressed body is cut short")
        try:
            yield self._z.flush()
        except zlib.error as exc:
            raise _corrupt(exc) from exc


def _corrupt(exc: zlib.error) -> ScrapeError:
    return ScrapeError("bad_encoding", f"the page's compressed body is corrupt: {exc}")


def scraping_client(settings: ScrapeSettings) -> httpx.AsyncClient:
    """The scrapers' own HTTP pool: a connection per scrape slot, none kept alive (each hop
    goes to a checked address). Nothing else (readiness probes) may use it."""
    timeout = httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.deadline_s
    )
    limits = httpx.Limits(max_connections=settings.max_concurrent, max_keepalive_connections=0)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


class Scraper:
    """Fetches with its own httpx client (`scraping_client`); see ScrapeSettings for every
    limit. `scrape` takes a slot of `limiter` for the client that asks, or refuses with 429."""

    def __init__(
        self,
        settings: ScrapeSettings,
        client: httpx.AsyncClient,
        resolve: Resolver = system_resolve,
        limiter: ConcurrencyLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.resolve = resolve
        self.limiter = limiter or ConcurrencyLimiter(
            settings.max_concurrent, settings.max_concurrent_per_client
        )

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
            except UnicodeError as exc:  # e.g. a label over 63 characters
                raise ScrapeError("invalid_url", f"{host!r} is not a valid host name") from exc
            except OSError as exc:
                raise ScrapeError("dns_failed", f"could not resolve {host}: {exc}") from exc
            if not candidates:
                raise ScrapeError("dns_failed", f"{host} has no address")
        for candidate in candidates:  # every answer must be public, not just the first
            ip = ipaddress.ip_address(candidate.split("%")[0])
            reason = blocked_reason(ip)
            if reason and not self._allowed(ip):
                raise ScrapeError("blocked_address", f"{host} resolves to {ip}, {reason}")
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
        if _URL_UNSAFE.search(url):  # urlsplit drops some of these silently; httpx refuses
            raise ScrapeError("invalid_url", "the URL contains a control character or whitespace")
        if not parts.hostname:
            raise ScrapeError("invalid_url", "the URL has no host")
        if parts.username or parts.password:
            raise ScrapeError("invalid_url", "URLs with credentials are not fetched")
        return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)

    async def _request(self, url: str) -> httpx.Request:
        """The request for one hop, to the checked address of the URL's host."""
        scheme, host, port = self._split(url)
        ip = await self._checked_address(host, port)
        default_port = port == (443 if scheme == "https" else 80)
        headers = {
            "Host": host if default_port else f"{host}:{port}",
            "User-Agent": self.settings.user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9",
            "Accept-Encoding": _ACCEPT_ENCODING,
        }
        extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" else {}
        try:
            target = httpx.URL(url).copy_with(host=ip)
            return self.client.build_request("GET", target, headers=headers, extensions=extensions)
        except (httpx.InvalidURL, ValueError) as exc:
            raise ScrapeError("invalid_url", f"not a valid URL: {exc}") from exc

    async def fetch(self, url: str) -> Fetched:
        """The page at `url`, every hop checked, all of it within `deadline_s`."""
        deadline = self.settings.deadline_s
        try:
            with anyio.fail_after(deadline):
                return await self._follow(url)
        except TimeoutError as exc:
            raise ScrapeError(
                "deadline_exceeded", f"the page was not fetched within the {deadline:g} s deadline"
            ) from exc

    async def _follow(self, url: str) -> Fetched:
        for _ in range(self.settings.max_redirects + 1):
            request = await self._request(url)
            host = request.headers["Host"]
            try:
                response = await self.client.send(request, stream=True, follow_redirects=False)
            except httpx.TimeoutException as exc:
                raise ScrapeError("timeout", f"{host} did not answer in time") from exc
            except httpx.HTTPError as exc:
                raise ScrapeError("fetch_failed", f"could not fetch {url}: {exc}") from exc
            except httpx.InvalidURL as exc:
                raise ScrapeError("invalid_url", f"not a valid URL: {exc}") from exc
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    try:
                        url = urljoin(url, response.headers["location"])
                    except ValueError as exc:
                        raise ScrapeError(
                            "invalid_url", f"the page redirected to an invalid URL: {exc}"
                        ) from exc
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
        coding = _content_coding(response.headers.get("content-encoding", ""))
        inflater = _Inflater(coding, d.SCRAPE_INFLATE_PIECE_BYTES) if coding else None
        limit = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ScrapeError("too_large", f"the page is {declared} bytes; the limit is {limit}")
        body = bytearray()
        received = 0

        def add(piece: bytes) -> None:
            body.extend(piece)
            if len(body) > limit:
                raise ScrapeError("too_large", f"the page is over the {limit}-byte limit")

        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > limit:
                    raise ScrapeError("too_large", f"the page is over the {limit}-byte limit")
                for piece in inflater.feed(chunk) if inflater else (chunk,):
                    add(piece)
            for piece in inflater.finish() if inflater else ():
                add(piece)
        except httpx.TimeoutException as exc:
            raise ScrapeError("timeout", "the page stopped sending") from exc
        except httpx.HTTPError as exc:
            raise ScrapeError("fetch_failed", f"reading the page failed: {exc}") from exc
        return Fetched(url, media, response.charset_encoding, bytes(body))

    async def scrape(self, url: str, client: str) -> Article:
        """The article at `url`, for `client` (the address that asks, which bounds how many
        of its scrapes run at once)."""
        try:
            async with self.limiter.slot(client):
                fetched = await self.fetch(url)
                article = await asyncio.to_thread(extract, fetched)
        except LimitReached as exc:
            raise ScrapeError(
                exc.code, exc.detail, status=429, retry_after=d.SCRAPE_BUSY_RETRY_AFTER_S
            ) from exc
        article.url = url
        if article.word_count < self.settings.min_words:
            raise ScrapeError(
                "too_few_words",
                f"only {article.word_count} words of article text were found "
                f"(at least {self.settings.min_words} are needed)",
            )
        return article


def extract(fetched: Fetched) -> Article:
    """Article text and metadata (gateway/extraction); plain text is taken as it is.
    Raises ScrapeError `not_an_article` or `too_complex` for a page it will not read."""
    if fetched.content_type in _TEXT_TYPES:
        text = _decode_text(fetched.body, fetched.charset).strip()
        first = bounded_title(_LINE_BREAK.split(text, maxsplit=1)[0]) if text else None
        return Article(fetched.url, fetched.url, first, text, None, None, None, None)
    try:
        doc = extract_html(fetched.body, fetched.charset, fetched.url)
    except NotAnArticle as exc:
        raise ScrapeError("not_an_article", str(exc)) from exc
    except PageTooComplex as exc:
        raise ScrapeError("too_complex", str(exc)) from exc
    return Article(
        url=fetched.url,
        final_url=fetched.url,
        title=bounded_title(doc.title),
        text=doc.text,
        byline=doc.byline,
        date=doc.date,
        site_name=doc.site_name,
        language=doc.language,
    )
