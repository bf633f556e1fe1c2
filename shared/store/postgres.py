"""PostgreSQL store (psycopg 3): also takes Supabase's own Postgres connection string."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg.types.json import Jsonb

from shared.store.base import StoredResult, StoreError

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"


class PostgresStore:
    name = "postgres"

    def __init__(self, url: str, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self.migrate()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop()
            try:
                self._conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=int(self.connect_timeout_s)
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _call(self, work: Callable[[psycopg.Connection[tuple[object, ...]]], T]) -> T:
        """Run `work` on the connection. A connection that broke since its last use (the
        server restarted, an idle connection was cut) is replaced once; every driver error
        leaves as StoreError. `work` must be safe to repeat (reads and upserts are)."""
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None and not (self._conn.closed or self._conn.broken)
                conn = self._connection()
                try:
                    return work(conn)
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self._drop()
                    if attempt == 1 and reused:
                        continue
                    raise StoreError(f"PostgreSQL failed: {exc}") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"PostgreSQL refused: {exc}") from exc
            raise AssertionError("unreachable")

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        def work(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql.encode(), args)
                return cur.fetchall() if cur.description else []

        return self._call(work)

    def migrate(self) -> None:
        """Apply every migration in supabase/migrations (each is idempotent)."""
        for path in sorted(MIGRATIONS.glob("*.sql")):
            self._run(path.read_text())

    def ping(self) -> None:
        self._run("select 1")

    def save(self, result: StoredResult, audio: bytes | None = None) -> None:
        doc = Jsonb(result.model_dump(mode="json"))

        def work(conn: psycopg.Connection[tuple[object, ...]]) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "insert into pulse_results "
                    "(job_id, content_key, status, created_at, document, audio_path) "
                    "values (%s, %s, %s, %s, %s, %s) on conflict (job_id) do update set "
                    "content_key = excluded.content_key, status = excluded.status, "
                    "created_at = excluded.created_at, document = excluded.document, "
                    "audio_path = excluded.audio_path",
                    (
                        result.job_id,
                        result.content_key,
                        result.status,
                        result.created_at,
                        doc,
                        result.job_id if audio is not None else None,
                    ),
                )
                if audio is not None:
                    cur.execute(
                        "insert into pulse_audio (job_id, mp3) values (%s, %s) "
                        "on conflict (job_id) do update set mp3 = excluded.mp3",
                        (result.job_id, audio),
                    )

        self._call(work)

    def _doc(self, rows: list[tuple[object, ...]]) -> StoredResult | None:
        return StoredResult.model_validate(rows[0][0]) if rows else None

    def get(self, job_id: str) -> StoredResult | None:
        return self._doc(
            self._run("select document from pulse_results where job_id = %s", (job_id,))
        )

    def find(self, key: str) -> StoredResult | None:
        return self._doc(
            self._run(
                "select document from pulse_results where content_key = %s "
                "and status = 'finished' order by created_at desc limit 1",
                (key,),
            )
        )

    def audio(self, job_id: str) -> bytes | None:
        rows = self._run("select mp3 from pulse_audio where job_id = %s", (job_id,))
        mp3 = rows[0][0] if rows else None
        return bytes(mp3) if isinstance(mp3, bytes | memoryview) else None

    def recent(self, limit: int) -> list[StoredResult]:
        rows = self._run(
            "select document from pulse_results order by created_at desc limit %s", (limit,)
        )
        return [StoredResult.model_validate(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._drop()
