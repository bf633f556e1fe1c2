"""End to end: submit, stream every event, poll status, replay, audio, failures."""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse
from mutagen.mp3 import MP3
from rq.command import send_kill_horse_command
from rq.job import Job

from shared import redis_names as names
from shared.jobstate import JobStates
from shared.settings import JobSettings
from shared.sse import dispatched
from tests.e2e.conftest import Mesh
from tests.servers import wait_until

ARTICLE = (Path(__file__).parents[1] / "fixtures" / "articles" / "chips.txt").read_text()


def read_events(client: httpx.Client, job_id: str, last: int | None = None) -> list[Any]:
    headers = {"Last-Event-ID": str(last)} if last is not None else {}
    with connect_sse(client, "GET", f"/queue/{job_id}/events", headers=headers) as source:
        assert source.response.status_code == 200
        assert source.response.headers["x-accel-buffering"] == "no"
        return [(int(e.id), e.event, json.loads(e.data)) for e in dispatched(source.iter_sse())]


def read_within(client: httpx.Client, job_id: str, seconds: float = 15.0) -> list[Any]:
    """Like read_events, but a stream still open after `seconds` fails the test (the
    gateway's pings keep a hanging stream alive, so no read timeout would fire)."""
    deadline = time.monotonic() + seconds
    text = ""
    with client.stream("GET", f"/queue/{job_id}/events") as response:
        assert response.status_code == 200
        for chunk in response.iter_text():
            text += chunk
            assert time.monotonic() < deadline, f"the stream did not end: {text[-300:]!r}"
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln and not ln.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "data" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def test_text_job_streams_every_event_then_stores_the_result(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=300) as client:
        r = client.post("/queue", json={"text": ARTICLE, "style": "executive"})
        assert r.status_code == 202, r.text
        body = r.json()
        job_id = body["job_id"]
        assert body["status"] == "queued"
        assert body["stream_url"] == f"/queue/{job_id}/events"
        first_status = client.get(body["status_url"]).json()
        assert first_status["status"] in ("queued", "started")

        events = read_events(client, job_id)
        seqs = [e[0] for e in events]
        assert seqs == list(range(1, len(events) + 1)), "every event once, in order"
        kinds = [e[1] for e in events]
        assert kinds[-1] == "done"
        assert events[-1][2]["timings"]["factory_first_text_ms"] > 0
        tokens = "".join(e[2]["text"] for e in events if e[1] == "token")
        summary = next(e[2] for e in events if e[1] == "summary")
        assert tokens == summary["main_summary"]
        assert kinds.count("token") > 3
        assert kinds.index("summary") > kinds.index("token")
        stages = [e[2]["stage"] for e in events if e[1] == "status"]
        assert stages == ["summarizing", "entities", "audio", "storing", "done"]
        entities = next(e[2]["entities"] for e in events if e[1] == "entities")
        assert any(e["text"] == "Mara Lindqvist" for e in entities)
        audio_event = next(e[2] for e in events if e[1] == "audio")
        assert audio_event["engine"] == "piper"

        status = client.get(f"/queue/{job_id}").json()
        assert status["status"] == "finished"
        assert status["progress"] == 1.0
        assert status["result"]["summary"]["main_summary"] == summary["main_summary"]
        assert status["result"]["outcomes"] == {"summary": "ok", "entities": "ok", "audio": "ok"}

        mp3 = client.get(audio_event["url"])
        assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
        assert MP3(io.BytesIO(mp3.content)).info.length > 1.0

        # A late subscriber gets the same events; Last-Event-ID resumes after it.
        assert read_events(client, job_id) == events
        assert read_events(client, job_id, last=5) == events[5:]

        # Once Redis has forgotten the job, status and result come from the store.
        mesh.redis.delete(names.job_meta(job_id))
        remembered = client.get(f"/queue/{job_id}").json()
        assert remembered["status"] == "finished"
        assert remembered["result"]["summary"] == status["result"]["summary"]

        # The same content, style and tasks again: the stored result, no new work.
        again = client.post("/queue", json={"text": ARTICLE, "style": "executive"})
        assert again.status_code == 200 and again.json()["cached"] is True
        assert again.json()["job_id"] == job_id


def test_url_job_scrapes_then_summarizes(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=300) as client:
        r = client.post("/queue", json={"url": f"{mesh.site}/article", "tasks": ["summary"]})
        assert r.status_code == 202, r.text
        events = read_events(client, r.json()["job_id"])
        assert events[-1][1] == "done"
        status = client.get(f"/queue/{r.json()['job_id']}").json()
        assert status["result"]["title"] == "Springfield approves $20 million river bridge"
        assert status["result"]["source_url"] == f"{mesh.site}/article"


def test_the_older_clients_one_call_stream(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=300) as client:
        params = {"url": f"{mesh.site}/article", "style": "eli5"}
        with connect_sse(
            client, "POST", "/api/v4/scrape-and-summarize/stream", params=params
        ) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            events = [(e.event, json.loads(e.data)) for e in dispatched(source.iter_sse())]
        tokens = "".join(d["text"] for kind, d in events if kind == "token")
        summary = next(d for kind, d in events if kind == "summary")
        assert tokens == summary["main_summary"] and events[-1][0] == "done"


def test_audio_failing_does_not_fail_the_summary(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=300) as client:
        body = {"text": ARTICLE, "tasks": ["summary", "audio"], "voice": "xx-XX-Nobody"}
        job_id = client.post("/queue", json=body).json()["job_id"]
        events = read_events(client, job_id)
        assert events[-1][1] == "done"
        assert "audio" not in [kind for _, kind, _ in events]
        result = client.get(f"/queue/{job_id}").json()["result"]
        assert result["outcomes"]["summary"] == "ok"
        assert result["outcomes"]["audio"].startswith("failed: factory answered 422")
        assert result["has_audio"] is False
        assert client.get(f"/queue/{job_id}/audio").status_code == 404


def test_bad_submissions_are_refused_with_reasons(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=60) as client:
        cases = [
            ({"text": ARTICLE, "url": "http://x/"}, 422, "invalid_request"),
            ({"style": "eli5"}, 422, "invalid_request"),
            ({"text": "   "}, 422, "invalid_request"),
            ({"text": ARTICLE, "tasks": ["poetry"]}, 422, "invalid_request"),
            ({"text": ARTICLE, "tasks": []}, 422, "invalid_request"),
            ({"text": "Too short to summarise."}, 422, "too_few_words"),
            ({"url": f"{mesh.site}/missing"}, 422, "upstream_status"),
            (
                {"url": mesh.site.replace("127.0.0.1", "127.0.0.2") + "/article"},
                422,
                "blocked_address",
            ),
            ({"url": "file:///etc/passwd"}, 422, "unsupported_scheme"),
        ]
        for body, status, code in cases:
            r = client.post("/queue", json=body)
            assert (r.status_code, r.json()["error"]) == (status, code), (body, r.text)
        assert client.get("/queue/nope").status_code == 404
        assert client.get("/queue/nope/events").status_code == 404
        assert client.get("/queue/nope/audio").status_code == 404


def test_health_readiness_metrics_and_overview(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=60) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"ready": True}
        text = client.get("/metrics").text
        assert "pulse_jobs_submitted_total" in text and "pulse_queue_depth" in text
        assert 'pulse_stage_seconds_count{stage="summarizing"}' in text
        assert 'pulse_jobs_ended_total{status="finished"}' in text
        assert 'pulse_job_seconds_bucket{le="900.0",status="finished"}' in text
        assert "pulse_tokens_streamed_total" in text
        overview = client.get("/queue").json()
        assert overview["workers"] >= 1 and overview["recent"]


def test_a_worker_process_killed_mid_job_ends_the_stream_with_an_error(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=120) as client:
        r = client.post("/queue", json={"text": ARTICLE, "style": "eli5", "refresh": True})
        job_id = r.json()["job_id"]
        wait_until(
            lambda: client.get(f"/queue/{job_id}").json().get("stage") == "summarizing",
            timeout=60,
            interval=0.02,
        )
        job = Job.fetch(job_id, connection=mesh.redis)
        assert job.worker_name
        send_kill_horse_command(mesh.redis, job.worker_name)
        events = read_events(client, job_id)
        assert events[-1][1] == "error"
        assert events[-1][2]["error"] == "JobLost"
        status = wait_until(
            lambda: (s := client.get(f"/queue/{job_id}").json())["status"] == "failed" and s,
            timeout=60,
        )
        assert "died" in status["error"]
        # The worker itself lives on and takes the next job.
        ok = client.post("/queue", json={"text": ARTICLE, "tasks": ["entities"]})
        assert read_events(client, ok.json()["job_id"])[-1][1] == "done"


def test_an_ended_jobs_stream_ends_even_after_its_event_log_expired(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=300) as client:
        text = f"{ARTICLE}\nReference {uuid.uuid4().hex}."
        body = {"text": text, "style": "eli5", "tasks": ["summary", "entities"]}
        job_id = client.post("/queue", json=body).json()["job_id"]
        live = read_events(client, job_id)
        summary = next(e[2] for e in live if e[1] == "summary")
        entities = next(e[2] for e in live if e[1] == "entities")

    # From here a stream that never ends fails the test instead of hanging it.
    with httpx.Client(base_url=mesh.gateway, timeout=10) as client:
        # A browser reconnecting after the last event: 204 stops its EventSource.
        last = {"Last-Event-ID": str(live[-1][0])}
        with client.stream("GET", f"/queue/{job_id}/events", headers=last) as after_end:
            assert after_end.status_code == 204

        # The event log expired (24 h): the stored result stands in for it, and the stream ends.
        mesh.redis.delete(names.events_log(job_id))
        replayed = read_within(client, job_id)
        assert [(e[0], e[1]) for e in replayed] == [(1, "summary"), (2, "entities"), (3, "done")]
        assert replayed[0][2] == summary and replayed[1][2] == entities
        assert replayed[2][2]["outcomes"] == {"summary": "ok", "entities": "ok"}

        # Redis forgot the job too: the store answers.
        mesh.redis.delete(names.job_meta(job_id))
        assert read_within(client, job_id) == replayed

        # A failed job whose log is gone ends with its reason.
        JobStates(mesh.redis, JobSettings(_env_file=None)).failed(  # type: ignore[call-arg]
            "gone-job", "FactoryError: boom"
        )
        failed = read_within(client, "gone-job")
        assert failed == [(1, "error", {"error": "job_failed", "detail": "FactoryError: boom"})]


def test_factory_down_fails_the_job_with_a_reason(mesh: Mesh) -> None:
    mesh.factory.terminate()
    mesh.factory.wait(timeout=60)
    with httpx.Client(base_url=mesh.gateway, timeout=120) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "factory" in ready.json()["failing"]
        r = client.post("/queue", json={"text": ARTICLE, "style": "eli5", "refresh": True})
        job_id = r.json()["job_id"]
        events = read_events(client, job_id)
        assert events[-1][1] == "error"
        assert "Connect" in events[-1][2]["error"] + events[-1][2]["detail"]
        status = wait_until(
            lambda: (s := client.get(f"/queue/{job_id}").json())["status"] == "failed" and s,
            timeout=60,
        )
        assert status["error"]
