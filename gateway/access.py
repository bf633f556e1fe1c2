"""Who may do what: the API key, per-job read tokens, the metrics token, the client address.

With `GATEWAY_API_KEY` unset everything is open (a local or private deployment). With it set:
- submitting and listing (`POST /queue`, `GET /queue`, the older client's stream) need the key;
- a job's status, events and audio need the key or that job's read token, returned at
  submission: an HMAC of the job id under the key, so any gateway replica can check it without
  storage, a token opens one job only, and changing the key revokes every token. A browser's
  EventSource cannot send headers, so the token also comes as `?token=`;
- `/metrics` needs the key or `GATEWAY_METRICS_TOKEN` (for a scraper that should not submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets

from fastapi import Request

from shared.http_errors import ApiError
from shared.settings import GatewaySettings


def read_token(settings: GatewaySettings, job_id: str) -> str | None:
    """The token that opens this one job for reading, or None when no key is set."""
    if settings.api_key is None:
        return None
    key = settings.api_key.get_secret_value().encode()
    mac = hmac.new(key, b"pulse-job-read:" + job_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def presented_key(request: Request) -> str | None:
    """The credential in `X-API-Key` or `Authorization: Bearer`."""
    if key := request.headers.get("x-api-key"):
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def has_key(settings: GatewaySettings, request: Request) -> bool:
    return settings.api_key is None or _same(
        presented_key(request), settings.api_key.get_secret_value()
    )


def check_key(settings: GatewaySettings, request: Request) -> None:
    if not has_key(settings, request):
        raise ApiError(401, "unauthorized", "a valid API key is required (X-API-Key header)")


def check_job_read(settings: GatewaySettings, request: Request, job_id: str) -> None:
    """The key, or this job's read token (`?token=` or `X-Read-Token`)."""
    if has_key(settings, request):
        return
    token = request.query_params.get("token") or request.headers.get("x-read-token")
    expected = read_token(settings, job_id)
    if expected is not None and _same(token, expected):
        return
    raise ApiError(
        401,
        "unauthorized",
        "reading a job needs the API key or the job's read token (?token= from the submission)",
    )


def check_metrics(settings: GatewaySettings, request: Request) -> None:
    if settings.api_key is None and settings.metrics_token is None:
        return
    given = presented_key(request)
    if settings.metrics_token is not None and _same(
        given, settings.metrics_token.get_secret_value()
    ):
        return
    if settings.api_key is not None and _same(given, settings.api_key.get_secret_value()):
        return
    raise ApiError(401, "unauthorized", "metrics need the API key or the metrics token (Bearer)")


def client_address(settings: GatewaySettings, request: Request) -> str:
    """The address that rate limits apply to: the peer, unless the peer is a trusted proxy,
    then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    trusted = settings.trusted_proxies
    if not trusted or not _in(peer, trusted):
        return peer
    forwarded = [
        h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")
    ]
    for hop in reversed([h for h in forwarded if h]):
        if not _in(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
