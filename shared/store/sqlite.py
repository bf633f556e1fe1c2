"""SQLite store: the zero-configuration local default; audio as files in a folder."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.store.base import StoredResult, StoreError

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_SCHEMA = """
create table if not exists pulse_results (
    job_id      text primary key,
    content_key text not null,
    status      text not null check (status in ('finished', 'failed')),
    created_at  text not null,
    document    text not null,
    audio_path  text
);
create index if not exists pulse_results_content_key
    on pulse_results (content_key, created_at desc);
create index if not exists pulse_results_created_at on pulse_results (created_at desc);
"""


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """SQLite's and the file system's errors (disk full, unwritable file) as StoreError."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"SQLite {what} failed: {exc}") from exc


def safe_id(job_id: str) -> str:
    if not _SAFE_ID.match(job_id):
        raise StoreError(f"not a valid job id: {job_id!r}")
    return job_id


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path, audio_dir: Path) -> None:
        self.audio_dir = audio_dir
        self._lock = threading.Lock()
        with _errors("open"):
            path.parent.mkdir(parents=True, exist_ok=True)
            audio_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            self._db.executescript(_SCHEMA)

    def ping(self) -> None:
        with self._lock, _errors("ping"):
            self._db.execute("select 1").fetchone()

    def save(self, result: StoredResult, audio: bytes | None = None) -> None:
        job_id = safe_id(result.job_id)
        audio_path = None
        if audio is not None:
            target = self.audio_dir / f"{job_id}.mp3"
            partial = target.with_suffix(".part")
            with _errors("audio write"):
                partial.write_bytes(audio)
                partial.replace(target)  # never a half-written MP3 under the real name
            audio_path = target.name
        with self._lock, _errors("save"):
            self._db.execute(
                "insert or replace into pulse_results "
                "(job_id, content_key, status, created_at, document, audio_path) "
                "values (?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    result.content_key,
                    result.status,
                    result.created_at.isoformat(),
                    result.model_dump_json(),
                    audio_path,
                ),
            )

    def _one(self, sql: str, *args: object) -> StoredResult | None:
        with self._lock, _errors("read"):
            row = self._db.execute(sql, args).fetchone()
        return StoredResult.model_validate_json(row[0]) if row else None

    def get(self, job_id: str) -> StoredResult | None:
        return self._one("select document from pulse_results where job_id = ?", job_id)

    def find(self, key: str) -> StoredResult | None:
        return self._one(
            "select document from pulse_results where content_key = ? and status = 'finished' "
            "order by created_at desc limit 1",
            key,
        )

    def audio(self, job_id: str) -> bytes | None:
        if not _SAFE_ID.match(job_id):
            return None  # no job was saved under it (a client's typo is no store outage)
        path = self.audio_dir / f"{job_id}.mp3"
        with _errors("audio read"):
            return path.read_bytes() if path.is_file() else None

    def recent(self, limit: int) -> list[StoredResult]:
        with self._lock, _errors("read"):
            rows = self._db.execute(
                "select document from pulse_results order by created_at desc limit ?", (limit,)
            ).fetchall()
        return [StoredResult.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
