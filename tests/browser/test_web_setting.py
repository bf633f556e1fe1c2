"""GATEWAY_WEB_UI switches the page off; no browser needed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.app import create_app
from shared.settings import GatewaySettings


def client(**settings: object) -> TestClient:
    return TestClient(create_app(GatewaySettings(_env_file=None, **settings)))  # type: ignore[call-arg]


def test_the_page_and_its_assets_are_served() -> None:
    c = client()
    page = c.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/web/app.js", "/web/app.css"):
        assert c.get(asset).status_code == 200
    assert "innerHTML" not in c.get("/web/app.js").text  # data goes in as text only


def test_gateway_web_ui_false_turns_the_page_off() -> None:
    c = client(web_ui=False)
    assert c.get("/").status_code == 404
    assert c.get("/web/app.js").status_code == 404
    assert c.get("/health").status_code == 200
