"""A job's status: its state in Redis, or the store's record once Redis has forgotten it."""

from __future__ import annotations

import anyio

from gateway.services import Services
from shared.api import JobStatus
from shared.http_errors import ApiError
from shared.jobstate import read_state


def _stored_status(services: Services, job_id: str) -> JobStatus | None:
    stored = services.store.get(job_id)
    if stored is None:
        return None
    finished = stored.status == "finished"
    return JobStatus(
        job_id=job_id,
        status=stored.status,
        stage="done" if finished else None,
        progress=1.0 if finished else None,
        result=stored.model_dump(mode="json") if finished else None,
        error=stored.error,
    )


async def status_of(services: Services, job_id: str) -> JobStatus:
    """One hash read (plus the queue position while queued); the store once Redis forgot."""
    state = await read_state(services.redis, job_id)
    if state is None:
        stored = await anyio.to_thread.run_sync(_stored_status, services, job_id)
        if stored is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        return stored
    status = state["status"]
    position = None
    if status == "queued":
        position = await services.redis.lpos(services.queue.key, job_id)
    return JobStatus(
        job_id=job_id,
        status=status,
        stage=state.get("stage"),
        progress=state.get("progress"),
        position=position,
        result=state.get("result") if status == "finished" else None,
        error=state.get("error"),
    )
