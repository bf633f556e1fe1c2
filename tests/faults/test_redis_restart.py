"""Redis stopped and started again while a worker runs a job (issue 8, items 3.2 and 3.3):
the worker stays up, the job ends visibly (its status and a terminal event a resuming
reader gets), with and without Redis's append-only file, and the next job runs."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Mesh

OUTAGE_S = 8.0  # long enough that a client's default retries give up


def _ends_visibly(fault_mesh: Mesh, job_id: str, seen: int) -> dict[str, object]:
    status = fault_mesh.ended(job_id, timeout=120)
    assert status["http"] == 200
    owed = fault_mesh.events(job_id, after=seen)
    terminal = [e for e in owed if e.terminal]
    assert terminal, f"a reader resuming after event {seen} gets no terminal event: {owed}"
    if status["status"] == "finished":
        assert terminal[-1].type == "done"
    else:
        assert status["error"], status
        assert terminal[-1].type == "error"
    return status


def _takes_the_next_job(fault_mesh: Mesh) -> None:
    job_id = fault_mesh.submit(words=3, seconds_per_word=0.01)
    assert fault_mesh.ended(job_id, timeout=60)["status"] == "finished"


@pytest.mark.parametrize("fault_mesh", [True, False], ids=["aof", "no-aof"], indirect=True)
def test_redis_restart_mid_job_neither_kills_the_worker_nor_strands_the_job(
    fault_mesh: Mesh,
) -> None:
    worker = fault_mesh.start_worker()
    job_id = fault_mesh.submit(words=120, seconds_per_word=0.1)
    seen = fault_mesh.tokens_flowing(job_id, count=5)

    fault_mesh.redis.stop()
    time.sleep(OUTAGE_S)
    fault_mesh.redis.start()

    status = _ends_visibly(fault_mesh, job_id, seen)
    # The job's process waited Redis out (WORKER_REDIS_RETRY_S) and carried on.
    assert status["status"] == "finished", status
    assert worker.poll() is None, "the worker exited"
    code, ready = fault_mesh.readyz()
    assert code == 200, ready  # the worker is registered again, even on an empty Redis
    _takes_the_next_job(fault_mesh)


@pytest.mark.parametrize("fault_mesh", [True, False], ids=["aof", "no-aof"], indirect=True)
def test_redis_down_beyond_the_retry_budget_fails_the_job_once_redis_is_back(
    fault_mesh: Mesh,
) -> None:
    worker = fault_mesh.start_worker(WORKER_REDIS_RETRY_S="1")
    job_id = fault_mesh.submit(words=120, seconds_per_word=0.1)
    seen = fault_mesh.tokens_flowing(job_id, count=5)

    fault_mesh.redis.stop()
    time.sleep(OUTAGE_S)
    fault_mesh.redis.start()

    status = _ends_visibly(fault_mesh, job_id, seen)
    assert status["status"] == "failed", status
    assert "Redis" in str(status["error"]), status
    assert worker.poll() is None, "the worker exited"
    _takes_the_next_job(fault_mesh)
