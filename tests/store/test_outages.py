"""A store that loses its server or its disk says so with StoreError (the gateway answers
503 for it), and a PostgreSQL store gets over a connection cut by a server restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store import StoreError
from shared.store.postgres import PostgresStore
from shared.store.sqlite import SqliteStore
from tests.postgres import cut_connections, throwaway_database
from tests.store.test_contract import result


@pytest.fixture(scope="module")
def pg_db() -> Iterator[str]:
    with throwaway_database("pulse_outage") as name:
        yield name


def test_the_first_call_after_a_postgres_restart_succeeds(pg_db: str) -> None:
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:5432/{pg_db}")
    try:
        saved = result(uuid.uuid4().hex)
        store.save(saved)
        assert cut_connections(pg_db) == 1
        assert store.get(saved.job_id) == saved  # a stale connection is replaced, once
        assert cut_connections(pg_db) == 1
        again = result(uuid.uuid4().hex)
        store.save(again, audio=b"ID3")
        assert store.audio(again.job_id) == b"ID3"
    finally:
        store.close()


def test_sqlite_disk_full_raises_store_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3", tmp_path / "audio")
    pages = store._db.execute("pragma page_count").fetchone()[0]
    store._db.execute(f"pragma max_page_count = {pages}")  # a disk with no room left
    with pytest.raises(StoreError, match="database or disk is full"):
        store.save(result(uuid.uuid4().hex, title="t" * 10_000))
    store.close()


def test_sqlite_that_cannot_open_its_file_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StoreError):
        SqliteStore(blocker / "db.sqlite3", tmp_path / "audio")
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "db.sqlite3", blocker / "audio")
