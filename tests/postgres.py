"""Throwaway PostgreSQL databases on the local server, and outages of one database alone
(the shared server itself is never stopped)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def url_of(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new empty database, dropped afterwards; yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
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


def cut_connections(db: str) -> int:
    """What a PostgreSQL restart does to a client: its server-side sessions are gone."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (db,)
        ).fetchall()
    return len(rows)


def refuse_connections(db: str, refuse: bool) -> None:
    """Take one database down (sessions cut, new ones refused) or bring it back."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"alter database {db} allow_connections {'false' if refuse else 'true'}")
    if refuse:
        cut_connections(db)
