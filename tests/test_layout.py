"""The layout the design asks for: `create_app` only wires; every route lives in a router
module (issue 8, section 4), so a reader finds each endpoint in one place."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from factory.app import create_app as factory_app
from gateway.app import create_app as gateway_app
from shared.settings import FactorySettings, GatewaySettings

# /docs and /redoc (served offline) come from the package that serves their assets.
DOCS_PAGES = "fastapi_offline."


def apps() -> dict[str, FastAPI]:
    return {
        "factory": factory_app(FactorySettings(_env_file=None)),  # type: ignore[call-arg]
        "gateway": gateway_app(GatewaySettings(_env_file=None)),  # type: ignore[call-arg]
    }


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI wraps those)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


@pytest.mark.parametrize("service", ["factory", "gateway"])
def test_every_route_is_declared_in_a_router_module(service: str) -> None:
    app = apps()[service]
    routes = api_routes(app.routes)
    assert len(routes) >= 5
    outside = {
        r.path: r.endpoint.__module__
        for r in routes
        if not r.endpoint.__module__.startswith((f"{service}.routes.", DOCS_PAGES))
    }
    assert outside == {}, f"routes declared outside {service}/routes/: {outside}"


def test_the_factory_serves_highlights_and_provenance() -> None:
    paths = {r.path for r in api_routes(apps()["factory"].routes)}
    assert {"/summarize", "/extract", "/highlights", "/provenance", "/audio"} <= paths
