"""What one eval run measured: per arm of a page, per page, and for the run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ArmStatus = Literal["ok", "invalid_json", "failed", "unavailable"]


@dataclass(frozen=True)
class Arm:
    """How the article reaches the model: whole, or cut to a share of its tokens."""

    selection: Literal["full", "head", "ranked"]
    fraction: float | None = None  # of the tokens the full arm read

    @property
    def name(self) -> str:
        if self.fraction is None:
            return self.selection
        return f"{self.selection} {round(self.fraction * 100)}%"


def arms(fractions: list[float]) -> list[Arm]:
    """The full article first (it gives the token count the budgets are shares of), then head
    truncation and ranked selection at each budget, side by side."""
    out = [Arm("full")]
    for f in fractions:
        out += [Arm("head", f), Arm("ranked", f)]
    return out


@dataclass
class ArmResult:
    arm: str
    status: ArmStatus
    reason: str | None = None
    budget_tokens: int | None = None  # requested; None for the full arm
    applied: str | None = None  # what the factory did: off, under_budget, ranked, lead, head
    article_tokens: int | None = None
    input_tokens: int | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    selected_sentences: int | None = None
    dropped_sentences: int | None = None
    finish_reason: str | None = None
    ttft_ms: float | None = None  # at the client, from just before the POST
    done_ms: float | None = None
    server_ttft_ms: float | None = None  # the factory's own: generation start -> first token
    input_ms: float | None = None  # the factory choosing the input within the budget
    title: str | None = None
    main_summary: str | None = None
    key_points: list[str] = field(default_factory=list)
    rouge1: float | None = None
    rouge2: float | None = None
    rouge_l: float | None = None
    title_rouge_l: float | None = None
    claims: int | None = None
    unsupported: int | None = None
    provenance_error: str | None = None

    @property
    def unsupported_share(self) -> float | None:
        if not self.claims or self.unsupported is None:
            return None
        return self.unsupported / self.claims


@dataclass
class PageResult:
    name: str
    words: int = 0
    has_reference: bool = False
    error: str | None = None  # the page could not be evaluated at all
    highlights_ms: float | None = None
    highlights_error: str | None = None
    lead3_rouge1: float | None = None  # lead-3 against the same reference
    lead3_rouge_l: float | None = None
    arms: list[ArmResult] = field(default_factory=list)

    def arm(self, name: str) -> ArmResult | None:
        return next((a for a in self.arms if a.arm == name), None)


@dataclass
class RunInfo:
    machine: str
    model: str
    date: str
    page_set: str
    fractions: list[float]
    factory: str  # how the factory was reached
    command: str = "make eval"  # how to run this again
    seconds: float = 0.0
    error: str | None = None  # the run-wide failure (the factory did not start)
    notes: list[str] = field(default_factory=list)


def to_json(info: RunInfo, pages: list[PageResult]) -> dict[str, Any]:
    return {"run": asdict(info), "pages": [asdict(p) for p in pages]}


def from_json(data: dict[str, Any]) -> tuple[RunInfo, list[PageResult]]:
    info = RunInfo(**data["run"])
    pages = []
    for raw in data["pages"]:
        page = PageResult(**{k: v for k, v in raw.items() if k != "arms"})
        page.arms = [ArmResult(**a) for a in raw["arms"]]
        pages.append(page)
    return info, pages
