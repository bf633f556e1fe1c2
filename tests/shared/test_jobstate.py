"""The one owner of a job's state: one TTL policy for every writer, one terminal rule."""

from __future__ import annotations

import json

import pytest
import redis

from shared import redis_names as names
from shared.jobstate import JobStates, is_terminal, replace_result
from shared.settings import JobSettings
from tests.redis_fixtures import RedisServer


@pytest.fixture
def r(redis_server: RedisServer) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.db(15))
    client.flushdb()
    return client


def test_each_status_lives_as_long_as_the_one_policy_says(r: redis.Redis) -> None:
    policy = JobSettings(  # type: ignore[call-arg]
        _env_file=None, timeout_s=700, result_ttl_s=300, failure_ttl_s=400
    )
    states = JobStates(r, policy)
    key = names.job_meta("j")
    states.queued("j")
    assert states.read("j") == {"status": "queued", "stage": "queued", "progress": 0.0}
    assert 1090 < r.ttl(key) <= 1100  # a live job: the timeout plus the failure TTL
    states.started("j", "summarizing", 0.05)
    assert states.status("j") == "started" and 1090 < r.ttl(key) <= 1100
    states.finished("j", {"title": "T"})
    assert states.read("j") == {
        "status": "finished",
        "stage": "done",
        "progress": 1.0,
        "result": {"title": "T"},
    }
    assert 290 < r.ttl(key) <= 300
    states.failed("k", "FactoryError: boom")
    assert states.read("k") == {"status": "failed", "error": "FactoryError: boom"}
    assert 390 < r.ttl(names.job_meta("k")) <= 400


def test_a_late_store_write_replaces_the_result_but_never_revives_a_job(r: redis.Redis) -> None:
    states = JobStates(r, JobSettings(_env_file=None))  # type: ignore[call-arg]
    states.finished("j", {"outcomes": {"store": "failed: down"}})
    replace_result(r, "j", json.dumps({"outcomes": {}}))
    assert states.read("j")["result"] == {"outcomes": {}}  # type: ignore[index]
    replace_result(r, "expired", json.dumps({"outcomes": {}}))
    assert states.read("expired") is None


def test_finished_and_failed_are_the_only_ends() -> None:
    assert [s for s in ("queued", "started", "finished", "failed", None) if is_terminal(s)] == [
        "finished",
        "failed",
    ]
