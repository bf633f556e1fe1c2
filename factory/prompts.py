"""Prompt wording. The system prompt is identical for every request, so llama.cpp reuses its
KV cache; the style comes after it and the article last."""

from __future__ import annotations

import json

from shared.schemas import GeneratedSummary, Style

SYSTEM_PROMPT = (
    "You are Segmento Pulse, a careful news editor. You summarise the article the user gives "
    "you. Use only facts stated in the article; never invent names, numbers or quotes. "
    "Write in the article's language. Be brief."
)

STYLE_INSTRUCTIONS: dict[Style, str] = {
    "skimmer": "Style: skimmer. Give the hard facts only: who, what, when, where, numbers. "
    "Short, dense sentences.",
    "executive": "Style: executive. Lead with the business impact: money, markets, risks, "
    "decisions, and what to do about it.",
    "eli5": "Style: explain like I'm five. Use simple words and short sentences a child "
    "understands; explain any jargon.",
}

PLAIN_FORMAT = "Write the summary as one short paragraph of plain text."

STRUCTURED_FORMAT = (
    "Answer with JSON only, with these fields: title (a headline), main_summary (two or three "
    "sentences), key_points (up to five short facts), category (one of: "
    + ", ".join(GeneratedSummary.model_json_schema()["properties"]["category"]["enum"])
    + "), sentiment (positive, negative or neutral)."
)


def user_message(style: Style, structured: bool, article: str) -> str:
    fmt = STRUCTURED_FORMAT if structured else PLAIN_FORMAT
    return f"{STYLE_INSTRUCTIONS[style]}\n{fmt}\n\nArticle:\n{article}"


def messages(style: Style, structured: bool, article: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(style, structured, article)},
    ]


def summary_schema_json() -> str:
    """JSON schema of what the model writes under the grammar (every field bounded)."""
    return json.dumps(GeneratedSummary.model_json_schema())
