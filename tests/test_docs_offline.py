"""/docs and /redoc of both services render without the internet: every asset they load is
served by the service itself (Swagger UI and ReDoc from fastapi-offline), none from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from factory.app import create_app as create_factory
from gateway.app import create_app as create_gateway
from shared.settings import FactorySettings, GatewaySettings

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _apps() -> dict[str, FastAPI]:
    # Without `with`, TestClient runs no lifespan: no model loads, no Redis is needed.
    return {
        "gateway": create_gateway(GatewaySettings(_env_file=None)),  # type: ignore[call-arg]
        "factory": create_factory(FactorySettings(_env_file=None)),  # type: ignore[call-arg]
    }


@pytest.mark.parametrize("service", ["gateway", "factory"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_service_itself(service: str, page: str) -> None:
    client = TestClient(_apps()[service])
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    urls = [a or b for a, b in ASSET.findall(html.text)]
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts, html.text  # Swagger UI's bundle or ReDoc's standalone script
    assert "openapi.json" in html.text
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"  # before: a CDN
        got = client.get(url)
        assert got.status_code == 200, url
        if url.endswith(".js"):
            assert len(got.content) > 100_000 and "javascript" in got.headers["content-type"]
    assert "fonts.googleapis" not in html.text and "cdn." not in html.text
