"""One contract, three backends: SQLite and PostgreSQL for real, Supabase at its HTTP edge."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.schemas import (
    Claim,
    Entity,
    Highlight,
    Highlights,
    Provenance,
    SourceSentence,
    StructuredSummary,
)
from shared.settings import StoreSettings
from shared.store import ResultStore, StoredResult, StoreError, content_key, open_store
from tests.postgres import throwaway_database, url_of
from tests.servers import serve
from tests.store.fake_supabase import fake_supabase


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server."""
    with throwaway_database("pulse_test") as name:
        yield url_of(name)


@pytest.fixture(scope="module")
def supabase_url() -> Iterator[str]:
    with serve(fake_supabase("service-key")) as base:
        yield base


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, supabase_url: str
) -> Iterator[ResultStore]:
    env = {
        "sqlite": {"sqlite_path": tmp_path / "pulse.db", "audio_dir": tmp_path / "audio"},
        "postgres": {"database_url": pg_url},
        "supabase": {"supabase_url": supabase_url, "supabase_service_key": "service-key"},
    }[request.param]
    settings = StoreSettings(_env_file=None, backend=request.param, **env)  # type: ignore[arg-type]
    opened = open_store(settings)
    yield opened
    opened.close()


def result(job_id: str, key: str = "k1", **fields: object) -> StoredResult:
    summary = StructuredSummary(
        title="Bridge approved",
        main_summary="The council approved a $20 million bridge.",
        key_points=["7 to 2 vote", "Opens 2027"],
        category="politics",
        sentiment="neutral",
        read_time_min=1,
    )
    lede = "Jane Okafor said the council approved the bridge."
    highlights = Highlights(
        highlights=[Highlight(text=lede, start=0, end=len(lede), score=0.95, rank=1)],
        sentences=12,
        truncated=False,
        model="all-MiniLM-L6-v2",
    )
    source = SourceSentence(text=lede, start=0, end=len(lede), similarity=0.81)
    claim = Claim(
        kind="key_point",
        index=0,
        text="7 to 2 vote",
        support=0.41,
        unsupported=True,
        reasons=["low_support", "unknown_number"],
        unknown_numbers=["7", "2"],
        unknown_names=[],
        sources=[source],
    )
    provenance = Provenance(claims=[claim], unsupported=1, min_support=0.5, model="m")
    values: dict[str, object] = {
        "job_id": job_id,
        "content_key": key,
        "status": "finished",
        "style": "skimmer",
        "tasks": ["highlights", "summary", "entities", "audio"],
        "title": "Springfield approves bridge",
        "highlights": highlights,
        "summary": summary,
        "provenance": provenance,
        "entities": [Entity(text="Jane Okafor", label="Person", score=0.9, start=4, end=15)],
        "outcomes": {"summary": "ok", "entities": "ok", "audio": "ok"},
        **fields,
    }
    return StoredResult.model_validate(values)


def unique() -> str:
    return uuid.uuid4().hex


def test_round_trip_keeps_every_field(store: ResultStore) -> None:
    saved = result(unique(), source_url="https://news.example/bridge", has_audio=True)
    store.ping()
    store.save(saved, audio=b"ID3fake-mp3")
    loaded = store.get(saved.job_id)
    assert loaded == saved
    assert store.audio(saved.job_id) == b"ID3fake-mp3"


def test_postgres_shows_highlights_and_provenance_as_columns(pg_url: str) -> None:
    """The migration's generated columns, for SQL and Supabase's table editor."""
    import psycopg

    store = open_store(StoreSettings(_env_file=None, backend="postgres", database_url=pg_url))  # type: ignore[call-arg]
    saved = result(unique())
    try:
        store.save(saved)
        store.save(result(unique(), highlights=None, provenance=None, summary=None))
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "select highlights, provenance, unsupported_claims from pulse_results "
            "where job_id = %s",
            (saved.job_id,),
        ).fetchone()
        blanks = conn.execute(
            "select count(*) from pulse_results where highlights is null and "
            "unsupported_claims is null"
        ).fetchone()
    assert row is not None and saved.highlights and saved.provenance
    assert row[0] == saved.highlights.model_dump(mode="json")
    assert row[1] == saved.provenance.model_dump(mode="json")
    assert row[2] == 1
    assert blanks is not None and blanks[0] >= 1


def test_unknown_job_and_missing_audio(store: ResultStore) -> None:
    job = unique()
    assert store.get(job) is None
    assert store.audio(job) is None
    store.save(result(job))
    assert store.audio(job) is None


def test_save_again_replaces(store: ResultStore) -> None:
    job = unique()
    store.save(result(job, status="failed", error="factory down", summary=None))
    store.save(result(job))
    loaded = store.get(job)
    assert loaded is not None and loaded.status == "finished" and loaded.error is None


def test_find_returns_the_newest_finished_result_for_a_key(store: ResultStore) -> None:
    key = content_key(unique(), "skimmer", ["summary"], {})
    now = datetime.now(UTC)
    older, newer, failed = unique(), unique(), unique()
    store.save(result(older, key, created_at=now - timedelta(minutes=5)))
    store.save(result(newer, key, created_at=now))
    store.save(result(failed, key, status="failed", created_at=now + timedelta(minutes=1)))
    found = store.find(key)
    assert found is not None and found.job_id == newer
    assert store.find("no-such-key") is None


def test_recent_is_newest_first(store: ResultStore) -> None:
    now = datetime.now(UTC) + timedelta(days=1)  # newer than anything saved before
    jobs = [unique() for _ in range(3)]
    for i, job in enumerate(jobs):
        store.save(result(job, created_at=now + timedelta(seconds=i)))
    assert [r.job_id for r in store.recent(3)] == list(reversed(jobs))


def test_content_key_ignores_whitespace_and_task_order() -> None:
    a = content_key("A  bridge\nwas built.", "eli5", ["summary", "audio"], {"voice": "x"})
    b = content_key("A bridge was built.", "eli5", ["audio", "summary"], {"voice": "x"})
    assert a == b
    assert a != content_key("A bridge was built.", "skimmer", ["summary", "audio"], {"voice": "x"})


def test_bad_job_id_cannot_escape_the_audio_folder(tmp_path: Path) -> None:
    settings = StoreSettings(_env_file=None, sqlite_path=tmp_path / "db", audio_dir=tmp_path / "a")  # type: ignore[call-arg]
    store = open_store(settings)
    with pytest.raises(StoreError):
        store.save(result("../../etc/passwd"), audio=b"x")
    (tmp_path / "secret.mp3").write_bytes(b"x")
    # Regression: reading was a StoreError, which the gateway answers as a store outage (a
    # 503 for GET /queue/<any such id>/audio); no job has such an id, so it has no audio.
    assert store.audio("../secret") is None


def test_unreachable_stores_raise_store_error(supabase_url: str) -> None:
    with pytest.raises(StoreError):
        open_store(
            StoreSettings(
                _env_file=None,
                backend="postgres",
                database_url="postgresql://postgres@127.0.0.1:1/x",
            )
        )  # type: ignore[call-arg]
    wrong_key = StoreSettings(
        _env_file=None, backend="supabase", supabase_url=supabase_url, supabase_service_key="wrong"
    )  # type: ignore[call-arg]
    with pytest.raises(StoreError, match="Invalid API key"):
        open_store(wrong_key).ping()


def test_settings_refuse_a_backend_without_its_connection() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        StoreSettings(_env_file=None, backend="postgres")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="SUPABASE_URL"):
        StoreSettings(_env_file=None, backend="supabase")  # type: ignore[call-arg]
