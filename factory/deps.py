"""The factory's request dependencies, as `Annotated` aliases so tests can swap them."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from factory.models import Models
from shared.http_errors import ApiError
from shared.settings import FactorySettings


def get_models(request: Request) -> Models:
    return request.app.state.models


def get_settings(request: Request) -> FactorySettings:
    return request.app.state.settings


ModelsDep = Annotated[Models, Depends(get_models)]
SettingsDep = Annotated[FactorySettings, Depends(get_settings)]


def require_token(request: Request, settings: SettingsDep) -> None:
    """When an internal token is set, only callers that present it get in."""
    if settings.internal_token is None:
        return
    expected = f"Bearer {settings.internal_token.get_secret_value()}"
    given = request.headers.get("authorization", "")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong internal token")


def check_size(text: str, limit: int, what: str) -> None:
    size = len(text.encode())
    if size > limit:
        raise ApiError(413, "text_too_large", f"{what} is {size} bytes; the limit is {limit}")
