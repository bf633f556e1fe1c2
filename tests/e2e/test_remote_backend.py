"""End to end with the LLM elsewhere: gateway -> worker -> factory (FACTORY_LLM_BACKEND=openai)
-> llama-cpp-python's OpenAI-compatible server on loopback, streamed to an SSE client and
kept in PostgreSQL. The gateway, queue, events, highlights and store are the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared import redis_names as names
from tests.e2e.conftest import Mesh, start_mesh
from tests.e2e.test_pipeline import ARTICLE, read_events
from tests.openai_servers import MODEL_ALIAS, LlamaCppServer, llama_cpp_server
from tests.redis_fixtures import RedisServer


@dataclass
class RemoteMesh:
    mesh: Mesh
    server: LlamaCppServer


@pytest.fixture(scope="module")
def remote(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, gguf_path: Path
) -> Iterator[RemoteMesh]:
    logs = tmp_path_factory.mktemp("remote-mesh")
    with llama_cpp_server(gguf_path, logs / "llama-cpp-server.log") as server:
        remote = {
            "FACTORY_LLM_BACKEND": "openai",
            "FACTORY_LLM_REMOTE_URL": server.url,
            "FACTORY_LLM_REMOTE_CONTEXT_TOKENS": "2048",
            "FACTORY_LLM_REMOTE_RETRY_TOTAL_S": "3",
        }
        with start_mesh(logs, redis_server.db(10), remote) as mesh:
            yield RemoteMesh(mesh, server)


def test_a_job_runs_through_a_remote_openai_compatible_server(remote: RemoteMesh) -> None:
    remote_mesh = remote.mesh
    with httpx.Client(base_url=remote_mesh.gateway, timeout=300) as client:
        health = httpx.get(f"{remote_mesh.factory_url}/health").json()
        assert health["llm_backend"]["kind"] == "openai" and health["llm_backend"]["reachable"]
        r = client.post("/queue", json={"text": ARTICLE, "style": "skimmer"})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        events = read_events(client, job_id)
        kinds = [e[1] for e in events]
        assert kinds[-1] == "done", events[-3:]
        done = events[-1][2]
        assert done["model"] == {"name": MODEL_ALIAS, "demo": False}
        assert kinds[:2] == ["status", "highlights"]
        assert kinds.count("token") > 3
        summary = next(e[2] for e in events if e[1] == "summary")
        tokens = "".join(e[2]["text"] for e in events if e[1] == "token")
        assert tokens == summary["main_summary"]
        assert {"provenance", "entities", "audio"} <= set(kinds)

        status = client.get(f"/queue/{job_id}").json()
        assert status["status"] == "finished"
        assert status["result"]["summary"]["main_summary"] == summary["main_summary"]
        assert status["result"]["outcomes"]["summary"] == "ok"
        remote_mesh.redis.delete(names.job_meta(job_id))  # from PostgreSQL now
        stored = client.get(f"/queue/{job_id}").json()
        assert stored["result"]["summary"] == status["result"]["summary"]


def test_the_remote_server_gone_fails_the_job_with_the_reason(remote: RemoteMesh) -> None:
    """Runs last: it stops the module's server. The job fails with the factory's reason;
    the gateway and the factory's other models are unaffected."""
    remote.server.proc.terminate()
    remote.server.proc.wait(timeout=30)
    with httpx.Client(base_url=remote.mesh.gateway, timeout=300) as client:
        r = client.post("/queue", json={"text": ARTICLE, "style": "eli5", "tasks": ["summary"]})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        events = read_events(client, job_id)
        assert events[-1][1] == "error", events[-3:]
        reason = events[-1][2]["detail"]
        assert "remote LLM server" in reason, reason
        status = client.get(f"/queue/{job_id}").json()
        assert status["status"] == "failed" and "remote LLM server" in status["error"]
        # Highlights need no LLM: a job asking only for them still finishes.
        r = client.post("/queue", json={"text": ARTICLE, "tasks": ["highlights"]})
        assert read_events(client, r.json()["job_id"])[-1][1] == "done"
        factory = httpx.get(f"{remote.mesh.factory_url}/health").json()
        assert factory["llm_backend"]["reachable"] is False
