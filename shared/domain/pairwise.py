"""Pairwise judging: each candidate against a baseline, the judge shown both answers, twice.

An LLM judge prefers the answer it reads first (position bias; Zheng et al., "Judging
LLM-as-a-Judge with MT-Bench and Chatbot Arena", 2023). So every pair is judged in both
orders, with MT-Bench's markers, and only a verdict that survives the swap counts: a verdict
that changes with the order is a tie. Per sample a candidate scores 1 (win), 0.5 (tie) or 0
(loss) against the baseline, and the baseline 0.5 on every sample it answered; then the usual
mean, interval and ranks. How often the two orders disagreed is reported as the judge's
inconsistency.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

Verdict = Literal["A", "B", "tie"]

PAIRWISE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by "
    "two AI assistants to the user question displayed below. Choose the assistant that follows "
    "the user's instructions and answers the user's question better, considering helpfulness, "
    "relevance, accuracy, depth and level of detail. When a reference answer is given, the "
    "assistant that agrees with it is correct. Avoid any position bias: the order in which the "
    "responses were presented must not influence your decision, and neither must their length "
    "nor the assistants' names. Reply with JSON only: "
    '{"winner": "A" | "B" | "tie", "reason": "<one or two sentences>"}.'
)

PAIRWISE_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "pairwise_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "winner": {"type": "string", "enum": ["A", "B", "tie"]},
                "reason": {"type": "string"},
            },
            "required": ["winner", "reason"],
            "additionalProperties": False,
        },
    },
}
PAIRWISE_PARAMETERS: dict[str, Any] = {
    "temperature": 0,
    "response_format": PAIRWISE_RESPONSE_FORMAT,
}


def build_pairwise_messages(
    *, input: str, reference: str | None, answer_a: str, answer_b: str
) -> list[dict[str, str]]:
    parts = [f"[User Question]\n{input}"]
    if reference is not None:
        parts.append(
            "[The Start of Reference Answer]\n" + reference + "\n[The End of Reference Answer]"
        )
    parts.append(
        "[The Start of Assistant A's Answer]\n" + answer_a + "\n[The End of Assistant A's Answer]"
    )
    parts.append(
        "[The Start of Assistant B's Answer]\n" + answer_b + "\n[The End of Assistant B's Answer]"
    )
    return [
        {"role": "system", "content": PAIRWISE_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


_BRACKETED = re.compile(r"\[\[(A|B|C|tie)\]\]", re.IGNORECASE)


def parse_pairwise_verdict(text: str) -> tuple[Verdict, str] | None:
    """The winner and reason from the judge's reply: JSON as asked, or MT-Bench's ``[[A]]``,
    ``[[B]]``, ``[[C]]`` (a tie); anything else is None (unscored, never a loss)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict):
        winner = str(data.get("winner", "")).strip()
        reason = str(data.get("reason", ""))[:2000]
        if winner.upper() in ("A", "B"):
            return ("A" if winner.upper() == "A" else "B"), reason
        if winner.lower() == "tie":
            return "tie", reason
        return None
    found = _BRACKETED.findall(text)
    if len(set(f.upper() for f in found)) == 1:
        mark = found[0].upper()
        verdict: Verdict = "tie" if mark in ("C", "TIE") else ("A" if mark == "A" else "B")
        return verdict, ""
    return None


def combine(candidate_first: Verdict, candidate_second: Verdict) -> tuple[float, bool]:
    """The candidate's score from the two orders (first: the candidate was A; second: it was
    B), and whether the judge was inconsistent (the verdicts differ once mapped back)."""

    def outcome(verdict: Verdict, candidate: Literal["A", "B"]) -> float:
        if verdict == "tie":
            return 0.5
        return 1.0 if verdict == candidate else 0.0

    first, second = outcome(candidate_first, "A"), outcome(candidate_second, "B")
    if first == second:
        return first, False
    return 0.5, True


def baseline_for(
    model_ids: list[str], eval_metadata: dict[str, Any] | None, chosen: str | None
) -> str:
    """The baseline: ``baseline_model_id`` when it is a candidate of the run, else the chosen
    model, else the first candidate."""
    named = (eval_metadata or {}).get("baseline_model_id")
    for option in (named, chosen):
        if option in model_ids:
            return str(option)
    return model_ids[0]
