"""The web page at `/`: static files from gateway/web/, and the limits the page shows."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from gateway.services import ServicesDep

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
router = APIRouter()
# The page's own scripts only: a second line of defence behind inserting data as text.
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(
        WEB_DIR / "index.html",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP},
    )


@router.get("/web/config.json", include_in_schema=False)
async def config(services: ServicesDep) -> dict[str, int | bool]:
    """What the page must know before a submission: the text limit, whether a key is asked."""
    settings = services.settings
    return {
        "max_text_bytes": settings.max_text_bytes,
        "api_key_required": settings.api_key is not None,
    }


def static_files() -> StaticFiles:
    """Mounted at /web (after the router, so /web/config.json wins)."""
    return StaticFiles(directory=WEB_DIR)
