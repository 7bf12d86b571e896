"""A category's board: one entry per agent (its best published result), ranked.

Pure functions over the materialized board document (``public_boards/{slug}``), which the
publish and verify transactions rewrite, so reading a board is one document read however many
results were published.

Order: higher score first; among equal scores, the earlier result first (it got there first).
``rank`` is the position in that order. Where an entry's 95% interval overlaps the interval of
the entry just above it, ``overlaps_above`` says so: the order between them may be noise, and
the board says that rather than pretending one is better.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

Doc = dict[str, Any]

# Keeps the board document below Firestore's 1 MiB: an entry is about 400 bytes stored, and
# the document holds both lists and their first pages. Agents below the cut keep their results
# (and their history up to then); they are counted in ``total_entries``.
MAX_BOARD_ENTRIES = 1000
MAX_VERIFIED_ENTRIES = 500
# Entries carry user-written names and links (up to 2 KiB each), so the lists are also cut by
# bytes (their JSON, an upper bound of what Firestore counts): together with the pages below,
# at most 400 + 200 + 150 + 100 KiB.
MAX_BOARD_BYTES = 400 * 1024
MAX_VERIFIED_BYTES = 200 * 1024
MAX_PAGE_BYTES = 150 * 1024
MAX_VERIFIED_PAGE_BYTES = 100 * 1024


def entry_bytes(entry: Doc) -> int:
    return len(json.dumps(entry, default=str).encode())


def cut(entries: list[Doc], *, count: int, size: int) -> list[Doc]:
    """The longest prefix of at most ``count`` entries and ``size`` bytes."""
    out, total = [], 0
    for e in entries[:count]:
        total += entry_bytes(e)
        if total > size:
            break
        out.append(e)
    return out


def _key(entry: Doc) -> tuple[float, datetime, int]:
    return (-float(entry["score"]), entry["published_at"], int(entry["agent_id"]))


def _overlaps(above: Doc, below: Doc) -> bool:
    if above.get("ci_low") is None or below.get("ci_high") is None:
        return False
    return float(above["ci_low"]) <= float(below["ci_high"])


def ranked(
    entries: Iterable[Doc], *, cap: int = MAX_BOARD_ENTRIES, size: int = MAX_BOARD_BYTES
) -> list[Doc]:
    """The entries in board order, with ``rank`` and ``overlaps_above`` set."""
    out = cut(sorted((dict(e) for e in entries), key=_key), count=cap, size=size)
    for i, entry in enumerate(out):
        entry["rank"] = i + 1
        entry["overlaps_above"] = i > 0 and _overlaps(out[i - 1], entry)
    return out


def rank_of(entries: list[Doc], result: Doc) -> int:
    """Where ``result`` stands against the other agents' best results: the newest result goes
    after every earlier one of the same score."""
    agent = int(result["agent_id"])
    ahead = sum(
        1
        for e in entries
        if int(e["agent_id"]) != agent and float(e["score"]) >= float(result["score"])
    )
    return ahead + 1


def is_new_record(entries: list[Doc], result: Doc) -> bool:
    """Better than every earlier result in the category (the board holds each agent's best, so
    its top is the best of all)."""
    return all(float(result["score"]) > float(e["score"]) for e in entries)


def place(
    entries: list[Doc], entry: Doc, *, cap: int = MAX_BOARD_ENTRIES, size: int = MAX_BOARD_BYTES
) -> tuple[list[Doc], bool]:
    """The board with ``entry`` as its agent's entry if it beats the agent's current one (a tie
    keeps the earlier result); returns the board and whether it changed."""
    agent = int(entry["agent_id"])
    current = next((e for e in entries if int(e["agent_id"]) == agent), None)
    if current is not None and float(current["score"]) >= float(entry["score"]):
        return entries, False
    others = [e for e in entries if int(e["agent_id"]) != agent]
    return ranked([*others, entry], cap=cap, size=size), True


def update_where(entries: list[Doc], match: Doc, fields: Doc) -> list[Doc]:
    """The board with ``fields`` set on entries whose keys equal ``match``'s values."""
    out = []
    for e in entries:
        if all(e.get(k) == v for k, v in match.items()):
            e = {**e, **fields}
        out.append(e)
    return out


# What a public read can ask for at most (BoardQuery.limit): kept as its own fields so the
# read fetches only these with a field mask (still one document read, a fraction of the bytes).
PAGE_ENTRIES = 100


def with_pages(board: Doc) -> Doc:
    """The board with its public pages (``top``, ``verified_top``) derived from its lists."""
    entries, verified = board.get("entries") or [], board.get("verified_entries") or []
    return {
        **board,
        "top": cut(entries, count=PAGE_ENTRIES, size=MAX_PAGE_BYTES),
        "verified_top": cut(verified, count=PAGE_ENTRIES, size=MAX_VERIFIED_PAGE_BYTES),
        "verified_total": len(verified),
    }


def snapshot(entries: list[Doc]) -> Doc:
    """One day's history point per agent: the board as it stands after a change (the day's
    last change wins)."""
    return {
        str(e["agent_id"]): {
            "score": e["score"],
            "rank": e["rank"],
            "agent_name": e["agent_name"],
        }
        for e in entries
    }
