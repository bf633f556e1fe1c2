"""The `pulse` command-line client against the real mesh, run as the user runs it."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from mutagen.mp3 import MP3

from tests.e2e.conftest import Mesh
from tests.servers import free_port

ARTICLE = (Path(__file__).parents[1] / "fixtures" / "articles" / "chips.txt").read_text()


def pulse(
    mesh: Mesh, *args: str, stdin: str | None = None, gateway: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pulse_cli", "--gateway", gateway or mesh.gateway, *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=300)


def fresh_article() -> str:
    """The fixture article with a unique last line, so the gateway does not reuse a result."""
    return f"{ARTICLE}\nReference {uuid.uuid4().hex}."


def status(mesh: Mesh, job_id: str) -> dict:
    return httpx.get(f"{mesh.gateway}/queue/{job_id}", timeout=10).json()


def job_id_of(stderr: str) -> str:
    """The job id from the progress line: `job <id>: ...`."""
    for word, following in zip(stderr.split(), stderr.split()[1:], strict=False):
        if word == "job":
            return following.rstrip(":")
    raise AssertionError(f"no job id in {stderr!r}")


def test_submit_follow_streams_the_summary_then_entities_and_saves_the_mp3(
    mesh: Mesh, tmp_path: Path
) -> None:
    mp3 = tmp_path / "narration.mp3"
    run = pulse(
        mesh, "submit", "-", "--follow", "--style", "eli5", "-o", str(mp3), stdin=fresh_article()
    )
    assert run.returncode == 0, run.stderr
    job_id = job_id_of(run.stderr)
    result = status(mesh, job_id)["result"]
    summary = result["summary"]
    assert "warning: this summary is from the bundled demo model" in run.stderr  # issue 11 §2
    # Highlights at once, then the streamed text (the stored summary), its title and key
    # points, then the grounding check's verdict.
    assert run.stdout.startswith("Highlights\n")
    for h in result["highlights"]["highlights"]:
        assert f"[{h['rank']}] {h['text']}" in run.stdout
    assert run.stdout.index("Highlights") < run.stdout.index(summary["main_summary"])
    assert "Grounding: " in run.stdout
    assert summary["title"] in run.stdout
    assert all(point in run.stdout for point in summary["key_points"])
    assert "Entities" in run.stdout
    assert all(e["text"] in run.stdout for e in result["entities"])
    audio = mp3.read_bytes()
    assert audio == httpx.get(f"{mesh.gateway}/queue/{job_id}/audio", timeout=10).content
    assert MP3(io.BytesIO(audio)).info.length > 1
    assert f"narration saved to {mp3}" in run.stderr


def test_submit_without_follow_prints_the_job_id_and_status_shows_the_result(
    mesh: Mesh, tmp_path: Path
) -> None:
    article = tmp_path / "article.txt"
    article.write_text(fresh_article())
    run = pulse(mesh, "submit", str(article), "--tasks", "summary")
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.strip()
    assert status(mesh, job_id)["status"] in ("queued", "started", "finished")

    # Following it again replays the whole stream; then status prints the stored result.
    again = pulse(mesh, "submit", str(article), "--tasks", "summary", "--follow")
    assert again.returncode == 0, again.stderr
    assert "identical earlier result" in again.stderr or job_id in again.stderr
    shown = pulse(mesh, "status", job_id)
    assert shown.returncode == 0, shown.stderr
    assert f"job {job_id}: finished" in shown.stderr
    assert status(mesh, job_id)["result"]["summary"]["main_summary"] in shown.stdout
    as_json = pulse(mesh, "status", job_id, "--json")
    assert '"status": "finished"' in as_json.stdout


def test_gateway_refusals_are_one_line_and_a_failing_exit_code(mesh: Mesh, tmp_path: Path) -> None:
    few_words = pulse(mesh, "submit", "-", stdin="Too short to summarize.")
    assert few_words.returncode == 1
    assert few_words.stderr.strip().startswith("pulse: error: too_few_words: text has 4 words")
    assert len(few_words.stderr.strip().splitlines()) == 1
    assert few_words.stdout == ""

    empty = pulse(mesh, "submit", "-", stdin="   \n")
    assert empty.returncode == 1
    assert "pulse: error: invalid_request:" in empty.stderr

    blocked = pulse(mesh, "submit", "http://169.254.169.254/latest/meta-data")
    assert blocked.returncode == 1
    assert "pulse: error: blocked_address:" in blocked.stderr

    unknown = pulse(mesh, "status", "no-such-job")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("pulse: error: not_found:")

    unreachable = pulse(mesh, "status", "x", gateway=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1
    assert "cannot reach the gateway" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_local_mistakes_exit_2_before_anything_is_sent(mesh: Mesh, tmp_path: Path) -> None:
    missing = pulse(mesh, "submit", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("pulse: no such file:")

    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 100)
    unreadable = pulse(mesh, "submit", str(binary))
    assert unreadable.returncode == 2
    assert "as UTF-8 text" in unreadable.stderr

    bad_tasks = pulse(mesh, "submit", "-", "--tasks", "summary,dance", stdin="x")
    assert bad_tasks.returncode == 2
    assert "tasks are a comma-separated subset" in bad_tasks.stderr

    no_audio = pulse(mesh, "submit", "-", "--tasks", "summary", "-o", "x.mp3", stdin="x")
    assert no_audio.returncode == 2
    assert "--audio-out needs the audio task" in no_audio.stderr
