"""The gateway's OpenAPI document tells the truth (issue 13 §3).

Every status the document declares is provoked for real and each response (status, headers,
body, and every event of a stream) is validated against the document with openapi-core:
a running gateway on real Redis, a real RQ worker process and a SQLite store; only the
factory is a stand-in on loopback (tests/worker/stand_in.py). A test per scenario lists what
it provokes; `test_the_scenarios_provoke_every_declared_response` holds the lists to the
document, so a status added to it needs a test that provokes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import redis
from rq import Queue, Worker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from shared import redis_names as names
from shared.events import EventType
from shared.settings import GatewaySettings, ScrapeSettings, StoreSettings
from tests.gateway.pages import site
from tests.openapi_contract import Contract, Operation, parse_sse
from tests.redis_fixtures import RedisServer
from tests.servers import serve, wait_until
from tests.worker.stand_in import Script, stand_in

REPO = Path(__file__).resolve().parents[2]
KEY = "k3y-openapi"
METRICS_TOKEN = "m3trics-openapi"
DB = 26
SENTENCE = "Jane Okafor said the council approved a $20 million bridge over the river. "
QUEUE, JOB, EVENTS, AUDIO = (
    "/queue",
    "/queue/{job_id}",
    "/queue/{job_id}/events",
    "/queue/{job_id}/audio",
)
LEGACY = "/api/v4/scrape-and-summarize/stream"
WITH_KEY = {"X-API-Key": KEY}


def text(tag: str) -> str:
    return f"{tag}. " + SENTENCE * 8


def settings_for(
    redis_url: str, tmp_path: Path, factory_url: str, **overrides: Any
) -> GatewaySettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "factory_url": factory_url,
        "api_key": KEY,
        "metrics_token": METRICS_TOKEN,
        "redis_retry_s": 0,
        "max_request_bytes": 20_000,
        "max_text_bytes": 10_000,
        "scrape": ScrapeSettings(_env_file=None, allowed_networks=[ip_network("127.0.0.1/32")]),  # type: ignore[call-arg]
        "store": StoreSettings(  # type: ignore[call-arg]
            _env_file=None, sqlite_path=tmp_path / "pulse.sqlite3", audio_dir=tmp_path / "audio"
        ),
        **overrides,
    }
    return GatewaySettings(_env_file=None, **values)  # type: ignore[call-arg]


def contract() -> Contract:
    return Contract(create_app(GatewaySettings(_env_file=None)).openapi())  # type: ignore[call-arg]


@dataclass
class Stack:
    client: httpx.Client
    doc: dict[str, Any]
    script: Script
    site: str


def factory_stand_in(script: Script) -> Any:
    """The worker tests' stand-in factory, answering /readyz as a ready factory does."""

    async def readyz(_: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    app = stand_in(script)
    app.router.routes.append(Route("/readyz", readyz))
    return app


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway with an API key, a worker process, the stand-in factory, a site to scrape."""
    tmp = tmp_path_factory.mktemp("openapi")
    url = redis_server.db(DB)
    r = redis.Redis.from_url(url)
    r.flushdb()
    script = Script()
    with serve(factory_stand_in(script)) as factory_url, serve(site(64 * 1024)) as site_url:
        env = {
            **os.environ,
            "WORKER_REDIS_URL": url,
            "WORKER_FACTORY_URL": factory_url,
            "WORKER_RETRY_ATTEMPTS": "1",
            "STORE_BACKEND": "sqlite",
            "STORE_SQLITE_PATH": str(tmp / "pulse.sqlite3"),
            "STORE_AUDIO_DIR": str(tmp / "audio"),
            "PYTHONPATH": str(REPO),  # it runs in `tmp`, away from any .env file
        }
        log = (tmp / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, cwd=tmp, stdout=log, stderr=log
        )
        try:
            queue = Queue(names.QUEUE, connection=r)

            def ready() -> int:
                assert worker.poll() is None, (tmp / "worker.log").read_text()[-3000:]
                return Worker.count(queue=queue)

            wait_until(ready, 60)
            settings = settings_for(url, tmp, factory_url)
            with (
                serve(create_app(settings)) as base,
                httpx.Client(base_url=base, timeout=30) as client,
            ):
                yield Stack(client, contract().doc, script, site_url)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            log.close()
            r.flushdb()
            r.close()


def finished(stack: Stack, job_id: str) -> dict[str, Any]:
    """The job's status once it has ended (polled with the key)."""
    path = f"/queue/{job_id}"

    def ended() -> dict[str, Any] | None:
        body = stack.client.get(path, headers=WITH_KEY).json()
        return body if body["status"] in ("finished", "failed") else None

    return wait_until(ended, 60)


# --- the document ------------------------------------------------------------------


def test_the_document_is_valid_and_declares_no_fastapi_error_schema() -> None:
    doc = contract().doc  # openapi-core validated it as OpenAPI 3.1
    assert doc["openapi"].startswith("3.1")
    assert "HTTPValidationError" not in json.dumps(doc)
    assert "ValidationError" not in doc["components"]["schemas"]


def test_every_error_the_document_declares_is_an_error_body() -> None:
    doc = contract().doc
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or (path, status) == ("/readyz", "503"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
                if status in ("429", "503"):
                    assert response["headers"]["Retry-After"]["required"], (method, path)
    fields = doc["components"]["schemas"]["ErrorBody"]["properties"]["fields"]
    assert fields["anyOf"][0]["items"] == {"$ref": "#/components/schemas/FieldError"}


def test_who_may_call_is_declared_where_a_401_can_come() -> None:
    """Optional (`{}`) while the gateway has no key; the key, or for a job its read token."""
    doc = contract().doc
    schemes = doc["components"]["securitySchemes"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "401" not in operation["responses"]:
                assert "security" not in operation, (method, path)
                continue
            security = operation["security"]
            assert security[0] == {} and {"ApiKey": []} in security, (method, path)
            assert all(set(choice) <= set(schemes) for choice in security)
            reads_a_job = path.startswith("/queue/{job_id}")
            assert ({"ReadToken": []} in security) == reads_a_job, (method, path)


def test_every_event_type_has_its_item_and_data_schema() -> None:
    doc = contract().doc
    stream = doc["paths"][EVENTS]["get"]["responses"]["200"]["content"]["text/event-stream"]
    item = stream["x-itemSchema"]["$ref"].removeprefix("#/components/schemas/")
    mapping = doc["components"]["schemas"][item]["discriminator"]["mapping"]
    assert set(mapping) == set(get_args(EventType))
    legacy = doc["paths"][LEGACY]["post"]["responses"]["200"]["content"]["text/event-stream"]
    assert legacy["x-itemSchema"] == stream["x-itemSchema"]


# --- real responses --------------------------------------------------------------

SUBMITTING: set[Operation] = {
    ("POST", QUEUE, 202),
    ("POST", QUEUE, 200),
    ("POST", QUEUE, 400),
    ("POST", QUEUE, 401),
    ("POST", QUEUE, 413),
    ("POST", QUEUE, 422),
}


def test_submitting_answers_as_documented(stack: Stack) -> None:
    found = Contract(stack.doc)  # what this test provokes
    c, check = stack.client, found.check
    assert check(c.post("/queue", json={"text": text("a")})).status_code == 401
    bad = check(c.post("/queue", json={"text": 5, "style": "haiku"}, headers=WITH_KEY))
    assert bad.status_code == 422 and {f["field"] for f in bad.json()["fields"]} == {
        "text",
        "style",
    }
    json_type = {**WITH_KEY, "content-type": "application/json"}
    unreadable = check(c.post("/queue", content=b'{"text": "\xff\xfe"}', headers=json_type))
    assert unreadable.status_code == 400
    few = check(c.post("/queue", json={"text": "four words only here"}, headers=WITH_KEY))
    assert few.status_code == 422 and few.json()["error"] == "too_few_words"
    refused = check(c.post("/queue", json={"url": "http://10.0.0.1/"}, headers=WITH_KEY))
    assert refused.status_code == 422 and refused.json()["error"] == "blocked_address"
    body = check(c.post("/queue", json={"text": "a " * 15_000}, headers=WITH_KEY))
    assert body.status_code == 413 and body.json()["error"] == "payload_too_large"
    long = check(c.post("/queue", json={"text": "é " * 4_000}, headers=WITH_KEY))
    assert long.status_code == 413 and long.json()["error"] == "text_too_large"

    job = {"text": text("submitting"), "tasks": ["summary"]}
    queued = check(c.post("/queue", json=job, headers=WITH_KEY))
    assert queued.status_code == 202 and queued.json()["cached"] is False
    assert finished(stack, queued.json()["job_id"])["status"] == "finished"
    cached = check(c.post("/queue", json=job, headers=WITH_KEY))
    assert cached.status_code == 200 and cached.json()["cached"] is True
    assert cached.json()["job_id"] == queued.json()["job_id"]
    assert found.seen >= SUBMITTING


READING: set[Operation] = {
    ("GET", JOB, 200),
    ("GET", JOB, 401),
    ("GET", JOB, 404),
    ("GET", EVENTS, 200),
    ("GET", EVENTS, 204),
    ("GET", EVENTS, 401),
    ("GET", EVENTS, 404),
    ("GET", EVENTS, 422),
    ("GET", AUDIO, 200),
    ("GET", AUDIO, 401),
    ("GET", AUDIO, 404),
    ("GET", QUEUE, 200),
    ("GET", QUEUE, 401),
}


def test_reading_a_job_answers_as_documented(stack: Stack) -> None:
    found = Contract(stack.doc)  # what this test provokes
    c, check = stack.client, found.check
    every_task = ["highlights", "summary", "entities", "audio"]
    submitted = c.post(
        "/queue", json={"text": text("reading"), "tasks": every_task}, headers=WITH_KEY
    )
    body = check(submitted).json()
    job_id, token = body["job_id"], {"X-Read-Token": body["read_token"]}
    assert finished(stack, job_id)["status"] == "finished"

    for path in (f"/queue/{job_id}", f"/queue/{job_id}/events", f"/queue/{job_id}/audio"):
        assert check(c.get(path)).status_code == 401, path
        assert (
            check(c.get(path.replace(job_id, "no-such-job"), headers=WITH_KEY)).status_code == 404
        )
    # Regression: an id the store cannot hold was a 503 `store_unavailable` (schemathesis).
    odd = check(c.get("/queue/%C3%B7%C3%A2%40/audio", headers=WITH_KEY))
    assert odd.status_code == 404 and odd.json()["error"] == "not_found"
    status = check(c.get(body["status_url"])).json()
    assert status["status"] == "finished" and status["result"]["summary"]["title"]
    stream = check(c.get(body["stream_url"]))
    kinds = [kind for kind, _ in found.events(stream)]
    assert set(kinds) == set(get_args(EventType)) - {"error"}, kinds
    assert kinds[-1] == "done"
    last = {**token, "Last-Event-ID": parse_sse(stream.text)[-1]["id"]}
    assert check(c.get(f"/queue/{job_id}/events", headers=last)).status_code == 204
    bad_id = {**token, "Last-Event-ID": "seven"}
    assert check(c.get(f"/queue/{job_id}/events", headers=bad_id)).status_code == 422
    audio = check(c.get(f"/queue/{job_id}/audio", headers=token))
    assert audio.status_code == 200 and audio.content.startswith(b"ID3")

    assert check(c.get("/queue")).status_code == 401
    assert check(c.get("/queue", headers=WITH_KEY)).json()["depth"] == 0
    assert found.seen >= READING


FAILING: set[Operation] = {("GET", EVENTS, 200)}


def test_failed_work_streams_documented_events(stack: Stack) -> None:
    """Highlights that could not be found, and a job that failed: their events conform."""
    found = Contract(stack.doc)  # what this test provokes
    c, check = stack.client, found.check
    stack.script.highlights = "422"
    try:
        job = {"text": text("no highlights"), "tasks": ["highlights", "summary"]}
        ok = check(c.post("/queue", json=job, headers=WITH_KEY)).json()
        assert finished(stack, ok["job_id"])["status"] == "finished"
        events = dict(found.events(check(c.get(ok["stream_url"]))))
        assert events["highlights"]["highlights"] == [] and events["highlights"]["error"]
        stack.script.summary = "422"
        job = {"text": text("failing"), "tasks": ["summary"]}
        failing = check(c.post("/queue", json=job, headers=WITH_KEY)).json()
        assert finished(stack, failing["job_id"])["status"] == "failed"
        events = dict(found.events(check(c.get(failing["stream_url"]))))
        assert set(events) == {"status", "error"} and events["error"]["detail"]
    finally:
        stack.script.highlights, stack.script.summary = "ok", "stream"


LEGACY_STREAM: set[Operation] = {
    ("POST", LEGACY, 200),
    ("POST", LEGACY, 401),
    ("POST", LEGACY, 413),
    ("POST", LEGACY, 422),
}


def test_the_older_clients_stream_answers_as_documented(stack: Stack) -> None:
    found = Contract(stack.doc)  # what this test provokes
    c, check = stack.client, found.check
    article = {"url": f"{stack.site}/article"}
    assert check(c.post(LEGACY, params=article)).status_code == 401
    refused = check(c.post(LEGACY, params={"url": "http://10.0.0.1/"}, headers=WITH_KEY))
    assert refused.status_code == 422 and refused.json()["error"] == "blocked_address"
    too_big = check(c.post(LEGACY, params=article, content=b"x" * 30_000, headers=WITH_KEY))
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    live = check(c.post(LEGACY, params=article, headers=WITH_KEY))  # followed live to its end
    assert [k for k, _ in found.events(live)][-1] == "done"
    cached = check(c.post(LEGACY, params=article, headers=WITH_KEY))  # the stored result's
    assert [k for k, _ in found.events(cached)][-1] == "done"
    assert found.seen >= LEGACY_STREAM


OPERATING: set[Operation] = {
    ("GET", "/health", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/metrics", 200),
    ("GET", "/metrics", 401),
}


def test_operators_endpoints_answer_as_documented(stack: Stack) -> None:
    found = Contract(stack.doc)  # what this test provokes
    c, check = stack.client, found.check
    assert check(c.get("/health")).status_code == 200
    assert check(c.get("/healthz")).status_code == 200
    assert check(c.get("/readyz")).json() == {"ready": True}
    assert check(c.get("/metrics")).status_code == 401
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert check(c.get("/metrics", headers=bearer)).status_code == 200
    assert found.seen >= OPERATING


LOAD: set[Operation] = {("POST", QUEUE, 429), ("POST", LEGACY, 429)}


def test_refusals_under_load_say_when_to_come_back(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A full queue and the rate limit (no worker here: jobs stay queued)."""
    url = redis_server.db(DB + 1)
    redis.Redis.from_url(url).flushdb()
    found = contract()
    settings = settings_for(
        url, tmp_path, "http://127.0.0.1:9", max_queue_depth=1, submissions_per_minute=3
    )
    try:
        with serve(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as c:
            assert (
                found.check(
                    c.post("/queue", json={"text": text("1")}, headers=WITH_KEY)
                ).status_code
                == 202
            )
            full = found.check(c.post("/queue", json={"text": text("2")}, headers=WITH_KEY))
            assert full.status_code == 429 and full.json()["error"] == "queue_full"
            legacy = found.check(
                c.post(LEGACY, params={"url": "http://10.0.0.1/"}, headers=WITH_KEY)
            )
            assert legacy.status_code == 422  # the third submission this minute
            limited = found.check(
                c.post(LEGACY, params={"url": "http://10.0.0.1/"}, headers=WITH_KEY)
            )
            assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
            again = found.check(c.post("/queue", json={"text": text("3")}, headers=WITH_KEY))
            assert again.status_code == 429 and again.json()["error"] == "rate_limited"
    finally:
        redis.Redis.from_url(url).flushdb()
    assert found.seen >= LOAD


OUTAGE: set[Operation] = {
    ("POST", QUEUE, 503),
    ("GET", QUEUE, 503),
    ("GET", JOB, 503),
    ("GET", EVENTS, 503),
    ("GET", AUDIO, 503),
    ("POST", LEGACY, 503),
    ("GET", "/metrics", 503),
    ("GET", "/readyz", 503),
}


def test_with_redis_down_every_route_answers_as_documented(tmp_path: Path) -> None:
    own = RedisServer(tmp_path / "redis").start()
    found = contract()
    try:
        settings = settings_for(own.db(0), tmp_path, "http://127.0.0.1:9", retry_after_s=7)
        with serve(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as c:
            job_id = c.post("/queue", json={"text": text("a")}, headers=WITH_KEY).json()["job_id"]
            own.stop()
            for method, path in [
                ("POST", "/queue"),
                ("GET", "/queue"),
                ("GET", f"/queue/{job_id}"),
                ("GET", f"/queue/{job_id}/events"),
                ("GET", f"/queue/{job_id}/audio"),
                ("POST", f"{LEGACY}?url=http://127.0.0.1/"),
                ("GET", "/metrics"),
            ]:
                body = (
                    {"json": {"text": text("b")}} if path == "/queue" and method == "POST" else {}
                )
                r = found.check(c.request(method, path, headers=WITH_KEY, **body))
                assert r.status_code == 503, (method, path, r.text)
                assert r.json()["error"] == "redis_unavailable" and r.headers["Retry-After"] == "7"
            ready = found.check(c.get("/readyz"))
            assert ready.status_code == 503 and "redis" in ready.json()["failing"]
            assert found.check(c.get("/health")).status_code == 200
    finally:
        own.stop()
    assert found.seen >= OUTAGE


INTERNAL: set[Operation] = {("GET", "/boom", 500)}


def test_an_unexpected_failure_is_the_documented_500(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """No route of the gateway fails on purpose: one is added to show the 500 every
    operation declares."""
    app = create_app(settings_for(redis_server.db(DB + 2), tmp_path, "http://127.0.0.1:9"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    found = Contract(app.openapi())
    assert (
        found.doc["paths"]["/boom"]["get"]["responses"]["500"]
        == (contract().doc["paths"]["/health"]["get"]["responses"]["500"])
    )
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        r = found.check(c.get("/boom", headers={"X-Request-ID": "req-42"}))
    assert r.status_code == 500 and r.json()["request_id"] == "req-42"
    assert found.seen == INTERNAL


def test_the_scenarios_provoke_every_declared_response() -> None:
    """Every status of every operation in the document is provoked by a test above (the
    500 each declares is shown once, on a route added for it)."""
    provoked = SUBMITTING | READING | FAILING | LEGACY_STREAM | OPERATING | LOAD | OUTAGE
    declared = contract().declared()
    assert {op for op in declared if op[2] != 500} == provoked
    assert {op[:2] for op in declared if op[2] == 500} == {op[:2] for op in declared}
