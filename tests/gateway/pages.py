"""A small local web site for scraping tests (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ARTICLE_HTML = (FIXTURES / "article.html").read_bytes()
ARTICLE_TEXT = (FIXTURES / "articles" / "bridge.txt").read_text()


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
            Route("/hop/{n}", hop),
            Route("/to", to),
            Route("/echo-host", echo_host),
        ]
    )
