"""Durable results behind one interface: SQLite (default), PostgreSQL or Supabase."""

from shared.settings import StoreSettings
from shared.store.base import ResultStore, StoredResult, StoreError, content_key


def open_store(settings: StoreSettings) -> ResultStore:
    """The backend named by settings, connected (and migrated, for PostgreSQL)."""
    if settings.backend == "postgres":
        from shared.store.postgres import PostgresStore

        assert settings.database_url is not None
        return PostgresStore(settings.database_url, settings.timeout_s)
    if settings.backend == "supabase":
        from shared.store.supabase import SupabaseStore

        assert settings.supabase_url is not None and settings.supabase_service_key is not None
        key = settings.supabase_service_key.get_secret_value()
        return SupabaseStore(
            settings.supabase_url, key, settings.supabase_bucket, settings.timeout_s
        )
    from shared.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, settings.audio_dir)


__all__ = ["ResultStore", "StoreError", "StoredResult", "content_key", "open_store"]
