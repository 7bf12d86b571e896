"""The board's rules as pure functions: order, ties, overlaps, records, and a document that
stays under Firestore's 1 MiB whatever users write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.public_board import (
    MAX_BOARD_ENTRIES,
    MAX_VERIFIED_BYTES,
    MAX_VERIFIED_ENTRIES,
    entry_bytes,
    is_new_record,
    place,
    rank_of,
    ranked,
    with_pages,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(agent: int, score: float, *, at: int = 0, half: float = 1.0, **kw: object) -> dict:
    return {
        "agent_id": agent,
        "agent_name": f"A{agent}",
        "score": score,
        "ci_low": score - half,
        "ci_high": score + half,
        "published_at": T0 + timedelta(seconds=at),
        "result_id": agent * 10 + at,
    } | kw


def test_order_ties_and_overlaps():
    board = ranked([entry(1, 50), entry(2, 90, at=2), entry(3, 90, at=1), entry(4, 89.5)])
    # Equal scores: the earlier result first.
    assert [e["agent_id"] for e in board] == [3, 2, 4, 1]
    assert [e["rank"] for e in board] == [1, 2, 3, 4]
    assert [e["overlaps_above"] for e in board] == [False, True, True, False]


def test_one_entry_per_agent_its_best():
    board = ranked([entry(1, 70), entry(2, 60)])
    same, changed = place(board, entry(1, 65, at=5))
    assert not changed and same == board
    tie, changed = place(board, entry(1, 70, at=5))
    assert not changed and tie[0]["published_at"] == T0  # a tie keeps the earlier
    better, changed = place(board, entry(2, 80, at=5))
    assert changed and [(e["agent_id"], e["score"]) for e in better] == [(2, 80), (1, 70)]


def test_rank_of_and_new_records():
    board = ranked([entry(1, 70), entry(2, 60)])
    assert rank_of(board, entry(3, 60)) == 3  # after the earlier 60
    assert rank_of(board, entry(1, 65)) == 1  # against the other agents' bests
    assert rank_of(board, entry(3, 99)) == 1
    assert is_new_record(board, entry(3, 70.1)) and not is_new_record(board, entry(3, 70))
    assert is_new_record([], entry(3, 0))


def test_a_board_of_hostile_maximums_fits_a_document():
    huge = {
        "agent_name": "n" * 200,
        "organization": "o" * 200,
        "agent_avatar_url": "https://x.example/" + "a" * 2030,
        "agent_badges": ["official", "community", "atp"],
    }
    entries = [entry(i, i / 10, **huge) for i in range(MAX_BOARD_ENTRIES + 500)]
    board = ranked(entries)
    verified = ranked(entries, cap=MAX_VERIFIED_ENTRIES, size=MAX_VERIFIED_BYTES)
    doc = with_pages({"entries": board, "verified_entries": verified, "category": {}})
    size = sum(
        entry_bytes(e)
        for k in ("entries", "verified_entries", "top", "verified_top")
        for e in doc[k]
    )
    assert size < 900 * 1024
    assert board[0]["score"] == max(e["score"] for e in entries)  # the cut keeps the top
    # Ordinary entries: the whole count fits.
    plain = ranked(entry(i, i / 10) for i in range(MAX_BOARD_ENTRIES + 10))
    assert len(plain) == MAX_BOARD_ENTRIES
