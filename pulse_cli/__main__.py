"""`pulse submit <url|file|->` and `pulse status <job_id>`: see `pulse --help`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from pulse_cli import render
from pulse_cli.client import GatewayClient, GatewayError

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
STYLES = ("skimmer", "executive", "eli5")
TASKS = ("highlights", "summary", "entities", "audio")
EXIT_FAILED, EXIT_USAGE = 1, 2
# The CLI installs without the factory: the same words as factory.llm.DEMO_WARNING, shorter.
DEMO_NOTE = (
    "this summary is from the bundled demo model (SmolLM2-135M): rough and often invented; "
    "run the factory with FACTORY_LLM_PRESET=llama-3.2-3b (or any real GGUF) for real ones"
)


class UsageError(Exception):
    """Bad local input (a missing file, an unknown task): exit code 2."""


def _tasks(value: str) -> list[str]:
    tasks = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if not tasks or unknown:
        raise argparse.ArgumentTypeError(f"tasks are a comma-separated subset of {','.join(TASKS)}")
    return tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulse", description="Client of a Segmento Pulse gateway."
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("PULSE_GATEWAY", DEFAULT_GATEWAY),
        help=f"gateway base URL (env PULSE_GATEWAY, default {DEFAULT_GATEWAY})",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("PULSE_API_KEY"), help="X-API-Key (env PULSE_API_KEY)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="summarize a URL, a text file or stdin (-)")
    submit.add_argument("source", help="an http(s) URL, a path to a text file, or - for stdin")
    submit.add_argument("--style", choices=STYLES, default="skimmer")
    submit.add_argument(
        "--tasks", type=_tasks, default=list(TASKS), help="comma-separated, default: all four"
    )
    submit.add_argument("--voice", help="narration voice (the factory's /voices lists them)")
    submit.add_argument("--refresh", action="store_true", help="run again, ignore a stored result")
    submit.add_argument(
        "-f", "--follow", action="store_true", help="show progress and the result as it streams"
    )
    submit.add_argument(
        "-o", "--audio-out", type=Path, help="save the MP3 narration here (implies --follow)"
    )

    status = commands.add_parser("status", help="a job's status, and its result once finished")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true", help="print the gateway's JSON as is")
    return parser


def read_source(source: str) -> dict[str, str]:
    """The submission's source: {url} for a URL, else {text} from a file or stdin."""
    if source.startswith(("http://", "https://")):
        return {"url": source}
    if source == "-":
        return {"text": sys.stdin.read()}
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"no such file: {source} (give a URL, a text file or - for stdin)")
    try:
        return {"text": path.read_text(encoding="utf-8")}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source} as UTF-8 text: {exc}") from exc


def follow(
    client: GatewayClient, job_id: str, out: Console, err: Console, audio_out: Path | None
) -> int:
    """Stream the job's events to the terminal; the exit code says how it ended."""
    streaming = False
    audio: dict[str, Any] | None = None
    with render.Progress(err, client, job_id) as progress:
        for event in client.events(job_id):
            data = event.data
            if event.type == "status":
                progress.update(str(data.get("stage")), data.get("progress"))
            elif event.type == "highlights":
                progress.hide()
                render.highlights(out, data)
                progress.show()
            elif event.type == "token":
                if not streaming:
                    progress.hide()
                    streaming = True
                out.file.write(str(data.get("text", "")))
                out.file.flush()
            elif event.type == "summary":
                if not streaming:  # a replay that skipped no tokens still shows the text
                    progress.hide()
                    out.print(data.get("main_summary", ""), end="")
                render.summary_footer(out, data)
                streaming = False
                progress.show()
            elif event.type == "provenance":
                progress.hide()
                render.provenance(out, data)
                progress.show()
            elif event.type == "entities":
                progress.hide()
                out.print()
                render.entities_table(out, data.get("entities", []))
                progress.show()
            elif event.type == "audio":
                audio = data  # served once the job is stored, after `done`
            elif event.type == "error":
                progress.hide()
                if streaming:
                    out.print()
                err.print(f"pulse: job failed: {data.get('error')}: {data.get('detail')}")
                return EXIT_FAILED
            elif event.type == "done":
                progress.hide()
                if (data.get("model") or {}).get("demo"):
                    err.print(f"pulse: warning: {DEMO_NOTE}")
                for task, outcome in (data.get("outcomes") or {}).items():
                    if str(outcome).startswith("failed"):
                        err.print(f"pulse: {task} {outcome}")
                if audio is not None and audio_out is not None:
                    _save_audio(client, job_id, audio_out, err, audio)
                return 0
    return EXIT_FAILED


def _save_audio(
    client: GatewayClient, job_id: str, path: Path, err: Console, info: dict[str, Any]
) -> None:
    audio = client.audio(job_id)
    path.write_bytes(audio)
    err.print(f"narration saved to {path} ({len(audio):,} bytes, {info.get('engine', '?')})")


def submit(args: argparse.Namespace, client: GatewayClient, out: Console, err: Console) -> int:
    if args.audio_out and "audio" not in args.tasks:
        raise UsageError("--audio-out needs the audio task (--tasks ...,audio)")
    body: dict[str, Any] = {**read_source(args.source), "style": args.style, "tasks": args.tasks}
    if args.voice:
        body["voice"] = args.voice
    if args.refresh:
        body["refresh"] = True
    answer = client.submit(body)
    job_id = answer["job_id"]
    if not (args.follow or args.audio_out):
        out.print(job_id)
        err.print(f"queued; `pulse status {job_id}` or `pulse submit --follow` to watch it")
        return 0
    if answer.get("cached"):
        # An identical earlier result: nothing will stream; show what was stored.
        err.print(f"job {job_id}: an identical earlier result (--refresh runs it again)")
        return show_status(client, job_id, out, err, audio_out=args.audio_out)
    return follow(client, job_id, out, err, args.audio_out)


def show_status(
    client: GatewayClient, job_id: str, out: Console, err: Console, audio_out: Path | None = None
) -> int:
    status = client.status(job_id)
    line = f"job {job_id}: {status['status']}"
    if status.get("stage") and status["stage"] != "done":
        line += f", {status['stage']}"
    if status.get("position") is not None:
        line += f", {status['position']} ahead in the queue"
    err.print(line)
    if status["status"] == "failed":
        err.print(f"pulse: job failed: {status.get('error')}")
        return EXIT_FAILED
    result = status.get("result")
    if result:
        render.stored_result(out, result)
        if audio_out is not None and result.get("has_audio"):
            _save_audio(client, job_id, audio_out, err, {"engine": "stored"})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # No markup: summaries and gateway messages may hold [brackets] of their own.
    out = Console(markup=False, highlight=False, soft_wrap=True)
    err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    client = GatewayClient(args.gateway, args.api_key)
    try:
        if args.command == "submit":
            return submit(args, client, out, err)
        if args.json:
            out.print_json(json.dumps(client.status(args.job_id)))
            return 0
        return show_status(client, args.job_id, out, err)
    except UsageError as exc:
        err.print(f"pulse: {exc}")
        return EXIT_USAGE
    except GatewayError as exc:
        err.print(f"pulse: error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("pulse: interrupted (the job goes on; `pulse status` shows it)")
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
