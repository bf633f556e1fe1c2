"""A worker and its work horse SIGKILLed together, as a container kill does (issue 8, item
3.8), and readiness without a live worker (item 3.2)."""

from __future__ import annotations

import os
import signal

import httpx

from shared import redis_names as names
from tests.faults.conftest import HEARTBEAT_TTL_S, Mesh, children
from tests.servers import wait_until

SLACK_S = 30  # the machine is shared: a bound on the wait, not a timing claim


def _workers_counted(fault_mesh: Mesh) -> int:
    return int(httpx.get(f"{fault_mesh.gateway}/queue", timeout=30).json()["workers"])


def _holder(fault_mesh: Mesh, job_id: str) -> int:
    """The pid of the worker running `job_id` (from its RQ execution record)."""
    r = fault_mesh.client
    try:
        entries = r.zrange(f"rq:wip:{names.QUEUE}", 0, -1)
        (entry,) = [e.decode() for e in entries if e.decode().startswith(job_id)]
        name = r.hget(f"rq:execution:{entry}", "worker_name")
        assert name is not None
        return int(r.hget(f"rq:worker:{name.decode()}", "pid") or 0)
    finally:
        r.close()


def test_worker_and_horse_killed_together_fail_the_job_within_the_heartbeat_ttl(
    fault_mesh: Mesh,
) -> None:
    workers = [fault_mesh.start_worker(), fault_mesh.start_worker()]
    job_id = fault_mesh.submit(words=100_000, seconds_per_word=0.2)  # held until killed
    seen = fault_mesh.tokens_flowing(job_id, count=3)
    holder = _holder(fault_mesh, job_id)
    (horse,) = children(holder)

    for pid in (holder, horse):  # a container kill
        os.kill(pid, signal.SIGKILL)

    status = fault_mesh.ended(job_id, timeout=HEARTBEAT_TTL_S + SLACK_S)
    assert status["status"] == "failed"
    assert "worker" in status["error"], status
    owed = fault_mesh.events(job_id, after=seen)
    assert [e.type for e in owed if e.terminal] == ["error"], owed
    wait_until(lambda: _workers_counted(fault_mesh) == 1, timeout=HEARTBEAT_TTL_S + SLACK_S)
    survivor = next(w for w in workers if w.pid != holder)
    assert survivor.poll() is None
    code, ready = fault_mesh.readyz()
    assert code == 200, ready

    # The survivor keeps working.
    job_id = fault_mesh.submit(words=3, seconds_per_word=0.01)
    assert fault_mesh.ended(job_id, timeout=60)["status"] == "finished"


def test_readyz_reports_when_no_worker_is_alive(fault_mesh: Mesh) -> None:
    code, body = fault_mesh.readyz()
    assert code == 503 and "workers" in body["failing"], body

    worker = fault_mesh.start_worker()
    code, body = fault_mesh.readyz()
    assert code == 200, body

    os.kill(worker.pid, signal.SIGKILL)  # no goodbye: only its heartbeat stops

    def unready() -> dict[str, object] | None:
        code, body = fault_mesh.readyz()
        return body if code == 503 else None

    body = wait_until(unready, timeout=HEARTBEAT_TTL_S + SLACK_S, interval=0.5)
    assert list(body["failing"]) == ["workers"], body
    assert _workers_counted(fault_mesh) == 0
