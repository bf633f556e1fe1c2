"""A small local web site for scraping tests (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import functools
import gzip
import zlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ARTICLE_HTML = (FIXTURES / "article.html").read_bytes()
ARTICLE_TEXT = (FIXTURES / "articles" / "bridge.txt").read_text()
BOMB_EXPANDED_BYTES = 256 * 1024 * 1024
LONG_TITLE_WORDS = [f"w{i}" for i in range(600)]  # 600 whole words, ~2,900 characters


@functools.cache
def gzip_bomb() -> bytes:
    """A small gzip body that inflates to BOMB_EXPANDED_BYTES of zeros."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [z.compress(zeros) for _ in range(BOMB_EXPANDED_BYTES // len(zeros))]
    return b"".join(parts) + z.flush()


def encoded(body: bytes, encoding: str, media_type: str = "text/html") -> Response:
    return Response(body, media_type=media_type, headers={"Content-Encoding": encoding})


def drip(every_s: float) -> StreamingResponse:
    """A page that never ends: one byte every `every_s` seconds (each read is quick)."""

    async def body():  # type: ignore[no-untyped-def]
        yield b"<html><body><p>"
        while True:
            await asyncio.sleep(every_s)
            yield b"x"

    return StreamingResponse(body(), media_type="text/html")


def site(big_bytes: int) -> Starlette:
    async def article(_: Request) -> Response:
        return Response(ARTICLE_HTML, media_type="text/html; charset=utf-8")

    async def plain(_: Request) -> Response:
        return PlainTextResponse(ARTICLE_TEXT)

    async def short(_: Request) -> Response:
        return Response("<html><body><p>Too short.</p></body></html>", media_type="text/html")

    async def image(_: Request) -> Response:
        return Response(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, media_type="image/png")

    async def missing(_: Request) -> Response:
        return PlainTextResponse("gone", status_code=404)

    async def big_streamed(_: Request) -> Response:
        async def body():  # type: ignore[no-untyped-def]
            yield b"<html><body><p>"
            for _ in range(big_bytes // 1000 + 10):
                yield b"word " * 200
            yield b"</p></body></html>"

        return StreamingResponse(body(), media_type="text/html")  # chunked: no Content-Length

    async def big_declared(_: Request) -> Response:
        return Response(b"x" * (big_bytes + 1), media_type="text/html")

    async def slow(_: Request) -> Response:
        async def body():  # type: ignore[no-untyped-def]
            yield b"<html><body>"
            await asyncio.sleep(5)
            yield b"</body></html>"

        return StreamingResponse(body(), media_type="text/html")

    async def dripping(request: Request) -> Response:
        return drip(float(request.query_params.get("every", "0.3")))

    async def bomb(_: Request) -> Response:
        return encoded(gzip_bomb(), "gzip")

    async def gzipped(_: Request) -> Response:
        return encoded(gzip.compress(ARTICLE_HTML), "gzip")

    async def deflated(_: Request) -> Response:
        return encoded(zlib.compress(ARTICLE_HTML), "deflate")

    async def raw_deflated(_: Request) -> Response:
        z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return encoded(z.compress(ARTICLE_HTML) + z.flush(), "deflate")

    async def other_encoding(request: Request) -> Response:
        return encoded(b"\x1b\x00\xf8\xa5" * 100, request.path_params["coding"])

    async def charset(request: Request) -> Response:
        kind = f"text/plain; charset={request.path_params['name']}"
        body = ARTICLE_TEXT.encode()
        if request.query_params.get("latin1"):  # not UTF-8: "café" in Latin-1
            body = ARTICLE_TEXT.replace("river", "café").encode("latin-1")
        return Response(body, media_type=kind)

    async def huge_plain(_: Request) -> Response:
        line = " ".join(f"word{i % 1000}" for i in range(130_000))  # ~1 MB, one line
        return PlainTextResponse(line + "\n" + ARTICLE_TEXT)

    async def long_title_plain(_: Request) -> Response:
        return PlainTextResponse(" ".join(LONG_TITLE_WORDS) + "\n\n" + ARTICLE_TEXT)

    async def long_title_html(_: Request) -> Response:
        title = " ".join(LONG_TITLE_WORDS).encode()
        html = ARTICLE_HTML.replace(
            b"<h1>Springfield approves $20 million river bridge", b"<h1>" + title
        )
        html = html.replace(
            b'content="Springfield approves $20 million river bridge"', b'content="' + title + b'"'
        )
        return Response(html, media_type="text/html; charset=utf-8")

    async def to_raw(request: Request) -> Response:
        location = request.query_params["url"]  # sent as it is, control characters and all
        return Response(status_code=302, headers={"Location": location})

    async def hop(request: Request) -> Response:
        n = int(request.path_params["n"])
        target = "/article" if n <= 1 else f"/hop/{n - 1}"
        return RedirectResponse(target, status_code=302)

    async def to(request: Request) -> Response:
        return RedirectResponse(request.query_params["url"], status_code=301)

    async def echo_host(request: Request) -> Response:
        words = " ".join(["filler"] * 60)
        html = f"<html><body><article><p>Host {request.headers['host']} {words}</p></article>"
        return Response(html + "</body></html>", media_type="text/html")

    return Starlette(
        routes=[
            Route("/article", article),
            Route("/plain", plain),
            Route("/short", short),
            Route("/image", image),
            Route("/missing", missing),
            Route("/big-streamed", big_streamed),
            Route("/big-declared", big_declared),
            Route("/slow", slow),
            Route("/drip", dripping),
            Route("/gzip-bomb", bomb),
            Route("/gzip-article", gzipped),
            Route("/deflate-article", deflated),
            Route("/raw-deflate-article", raw_deflated),
            Route("/encoded/{coding}", other_encoding),
            Route("/charset/{name}", charset),
            Route("/huge-plain", huge_plain),
            Route("/long-title-plain", long_title_plain),
            Route("/long-title-html", long_title_html),
            Route("/to-raw", to_raw),
            Route("/hop/{n}", hop),
            Route("/to", to),
            Route("/echo-host", echo_host),
        ]
    )
