"""What `pulse` shows: a live progress line on stderr, the summary and entities on stdout."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pulse_cli.client import GatewayClient

POLL_S = 1.0


class Progress:
    """A spinner on stderr naming the job's stage (and queue position while it waits).

    It is hidden while summary text streams to stdout, so the two never interleave. When
    stderr is not a terminal (a log, a pipe), each change is one plain line instead.
    """

    def __init__(self, console: Console, client: GatewayClient, job_id: str) -> None:
        self.console = console
        self.client = client
        self.job_id = job_id
        self.stage = "queued"
        self.progress: float | None = None
        self.position: int | None = None
        self.live = console.is_terminal
        self._status = console.status(self._text())
        self._shown = False
        self._last_line = ""
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_position, daemon=True)

    def _text(self) -> str:
        if self.stage == "queued":
            place = "" if self.position is None else f", {self.position} ahead"
            return f"job {self.job_id}: queued{place}"
        pct = "" if self.progress is None else f" ({self.progress:.0%})"
        return f"job {self.job_id}: {self.stage}{pct}"

    def __enter__(self) -> Progress:
        self.show()
        self._poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.hide()

    def _changed(self) -> None:
        text = self._text()
        if self.live:
            self._status.update(text)
        elif text != self._last_line:
            self.console.print(text)
            self._last_line = text

    def show(self) -> None:
        self._changed()
        if self.live and not self._shown:
            self._status.start()
            self._shown = True

    def hide(self) -> None:
        if self._shown:
            self._status.stop()
            self._shown = False

    def update(self, stage: str, progress: float | None) -> None:
        self.stage, self.progress = stage, progress
        self._changed()

    def _poll_position(self) -> None:
        """The event stream does not carry the queue position: ask for it while queued."""
        while not self._stop.wait(POLL_S) and self.stage == "queued":
            try:
                self.position = self.client.status(self.job_id).get("position")
            except Exception:  # the stream reports real failures; this is decoration
                continue
            self._changed()


def summary_footer(out: Console, summary: dict[str, Any]) -> None:
    """What follows the streamed main summary: title, labels and key points."""
    out.print()
    labels = (
        f" · {summary.get('category', '?')} · {summary.get('sentiment', '?')}"
        f" · {summary.get('read_time_min', '?')} min read"
    )
    out.print(Text.assemble((str(summary.get("title", "")), "bold"), labels))
    for point in summary.get("key_points", []):
        out.print(f"  • {point}")


def highlights(out: Console, found: dict[str, Any]) -> None:
    """The article's key sentences, shown the moment they arrive (before the summary)."""
    items = found.get("highlights") or []
    if not items:
        out.print(f"No highlights ({found.get('error') or 'no sentence to highlight'}).")
        return
    out.print(Text("Highlights", "bold"))
    for h in sorted(items, key=lambda h: h.get("start", 0)):  # in the article's order
        out.print(f"  [{h.get('rank')}] {h.get('text')}")
    out.print()


def provenance(out: Console, checked: dict[str, Any]) -> None:
    """The grounding check: a line per claim the article does not support."""
    claims = checked.get("claims") or []
    flagged = [c for c in claims if c.get("unsupported")]
    if not flagged:
        out.print(f"Grounding: all {len(claims)} claims are supported by the article.")
        return
    out.print(Text(f"Grounding: {len(flagged)} of {len(claims)} claims unsupported", "bold"))
    for claim in flagged:
        why = []
        if "low_support" in claim.get("reasons", []):
            why.append(f"support {claim.get('support', 0):.2f}")
        if claim.get("unknown_numbers"):
            why.append("numbers not in the article: " + ", ".join(claim["unknown_numbers"]))
        if claim.get("unknown_names"):
            why.append("names not in the article: " + ", ".join(claim["unknown_names"]))
        out.print(f"  ! {claim.get('text')} ({'; '.join(why)})")


def entities_table(out: Console, entities: list[dict[str, Any]]) -> None:
    if not entities:
        out.print("No entities found.")
        return
    table = Table(title=f"Entities ({len(entities)})", title_justify="left")
    table.add_column("entity")
    table.add_column("label")
    table.add_column("score", justify="right")
    for e in entities:
        table.add_row(str(e.get("text")), str(e.get("label")), f"{e.get('score', 0):.2f}")
    out.print(table)


def stored_result(out: Console, result: dict[str, Any]) -> None:
    """A finished job's result, as `pulse status` and a cached submission show it."""
    if result.get("highlights"):
        highlights(out, result["highlights"])
    summary = result.get("summary")
    if summary:
        out.print(summary.get("main_summary", ""))
        summary_footer(out, summary)
    if result.get("provenance"):
        provenance(out, result["provenance"])
    if result.get("entities") is not None:
        out.print()
        entities_table(out, result["entities"])
    for task, outcome in (result.get("outcomes") or {}).items():
        if outcome.startswith("failed"):
            out.print(f"{task}: {outcome}")
