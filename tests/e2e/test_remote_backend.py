"""End to end with the LLM elsewhere: gateway -> worker -> factory (FACTORY_LLM_BACKEND=openai)
-> llama-cpp-python's OpenAI-compatible server on loopback, streamed to an SSE client and
kept in PostgreSQL. The gateway, queue, events, highlights and store are the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared import redis_names as names
from tests.e2e.conftest import Mesh, start_mesh
from tests.e2e.test_pipeline import ARTICLE, read_events
from tests.openai_servers import MODEL_ALIAS, llama_cpp_server
from tests.redis_fixtures import RedisServer


@pytest.fixture(scope="module")
def remote_mesh(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, gguf_path: Path
) -> Iterator[Mesh]:
    logs = tmp_path_factory.mktemp("remote-mesh")
    with llama_cpp_server(gguf_path, logs / "llama-cpp-server.log") as server:
        remote = {
            "FACTORY_LLM_BACKEND": "openai",
            "FACTORY_LLM_REMOTE_URL": server.url,
            "FACTORY_LLM_REMOTE_CONTEXT_TOKENS": "2048",
        }
        with start_mesh(logs, redis_server.db(10), remote) as mesh:
            yield mesh


def test_a_job_runs_through_a_remote_openai_compatible_server(remote_mesh: Mesh) -> None:
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
