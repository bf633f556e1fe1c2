"""Fixtures of the worker tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pg_db() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server (never the server itself)."""
    name = f"pulse_jobs_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not answering at {PG_ADMIN}: {exc} (see README, Tests)")
    admin.execute(f"create database {name}".encode())
    try:
        yield name
    finally:
        admin.execute(f"drop database {name} with (force)".encode())
        admin.close()
