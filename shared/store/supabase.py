"""Supabase store: rows through PostgREST (the `supabase` client), audio in a Storage bucket."""

from __future__ import annotations

from typing import Any

from storage3.types import FileOptions

from shared.store.base import StoredResult, StoreError

TABLE = "pulse_results"


class SupabaseStore:
    name = "supabase"

    def __init__(self, url: str, service_key: str, bucket: str, timeout_s: float = 10.0) -> None:
        from supabase import ClientOptions, create_client

        options = ClientOptions(
            postgrest_client_timeout=timeout_s, storage_client_timeout=int(timeout_s)
        )
        self.client = create_client(url, service_key, options)
        self.bucket = bucket

    def _call(self, what: str, fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:  # the client raises many types: APIError, httpx errors ...
            raise StoreError(f"Supabase {what} failed: {exc}") from exc

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        return list(self._call("query", query.execute).data)

    def ping(self) -> None:
        self._rows(self.client.table(TABLE).select("job_id").limit(1))

    def save(self, result: StoredResult, audio: bytes | None = None) -> None:
        if audio is not None:
            bucket = self.client.storage.from_(self.bucket)
            options: FileOptions = {"content-type": "audio/mpeg", "upsert": "true"}
            self._call(
                "audio upload", lambda: bucket.upload(f"{result.job_id}.mp3", audio, options)
            )
        row = {
            "job_id": result.job_id,
            "content_key": result.content_key,
            "status": result.status,
            "created_at": result.created_at.isoformat(),
            "document": result.model_dump(mode="json"),
            "audio_path": f"{result.job_id}.mp3" if audio is not None else None,
        }
        self._rows(self.client.table(TABLE).upsert(row, on_conflict="job_id"))

    def _first(self, rows: list[dict[str, Any]]) -> StoredResult | None:
        return StoredResult.model_validate(rows[0]["document"]) if rows else None

    def get(self, job_id: str) -> StoredResult | None:
        return self._first(
            self._rows(self.client.table(TABLE).select("document").eq("job_id", job_id).limit(1))
        )

    def find(self, key: str) -> StoredResult | None:
        query = (
            self.client.table(TABLE)
            .select("document")
            .eq("content_key", key)
            .eq("status", "finished")
            .order("created_at", desc=True)
            .limit(1)
        )
        return self._first(self._rows(query))

    def audio(self, job_id: str) -> bytes | None:
        rows = self._rows(
            self.client.table(TABLE).select("audio_path").eq("job_id", job_id).limit(1)
        )
        if not rows or not rows[0]["audio_path"]:
            return None
        bucket = self.client.storage.from_(self.bucket)
        return bytes(self._call("audio download", lambda: bucket.download(rows[0]["audio_path"])))

    def recent(self, limit: int) -> list[StoredResult]:
        query = self.client.table(TABLE).select("document").order("created_at", desc=True)
        return [StoredResult.model_validate(r["document"]) for r in self._rows(query.limit(limit))]

    def close(self) -> None:
        pass
