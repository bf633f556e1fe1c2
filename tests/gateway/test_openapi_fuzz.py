"""Requests generated from the gateway's OpenAPI document (schemathesis, a small fixed
budget) against a running gateway on real Redis: no 5xx, and every status, content type,
header and body as the document declares; requests the document forbids are refused.

Not checked: that every request the document allows is accepted (it cannot say "exactly one
of url or text" or "enough words"). `/readyz` is left out: with no factory here its declared
503 is the answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.app import create_app
from shared.settings import GatewaySettings
from tests.gateway.test_openapi import settings_for
from tests.redis_fixtures import RedisServer
from tests.servers import serve

DB = 28
DOC = create_app(GatewaySettings(_env_file=None)).openapi()  # type: ignore[call-arg]
schema = schemathesis.openapi.from_dict(DOC).exclude(path="/readyz")


@pytest.fixture(scope="module")
def gateway_url(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Open (no API key), so that generated requests reach past the key check."""
    url = redis_server.db(DB)
    r = redis.Redis.from_url(url)
    r.flushdb()
    tmp = tmp_path_factory.mktemp("fuzz")
    overrides = {"api_key": None, "metrics_token": None, "submissions_per_minute": 10_000}
    try:
        with serve(create_app(settings_for(url, tmp, "http://127.0.0.1:9", **overrides))) as base:
            yield base
    finally:
        r.flushdb()
        r.close()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_documented_answers(
    case: schemathesis.Case, gateway_url: str
) -> None:
    case.call_and_validate(
        base_url=gateway_url,
        timeout=15,
        excluded_checks=[positive_data_acceptance],
    )
