"""Fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import throwaway_database


@pytest.fixture(scope="module")
def pg_db() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server (never the server itself)."""
    with throwaway_database("pulse_jobs") as name:
        yield name
