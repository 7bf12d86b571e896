"""Cells' answers and cache entries stored packed (one MessagePack value each), on the real
emulator: read back as they were written, and what was stored before packing still read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.repositories.packing import pack, unpack
from shared.repositories.runs import CacheWrite, RunRepository

RECORD = {
    "index": 0,
    # What a model may write: quotes, control characters, any script. MessagePack stores it
    # in its UTF-8 size, where JSON would escape it.
    "output": 'a "quoted" answer\x00\x1b\n with \u00e9\u4e2d\U0001f600',
    "truncated": False,
    "error": None,
    "latency_ms": 201.5,
    "tokens_in": 12,
    "tokens_out": 3,
    "cost_usd": 1.5e-06,
    "cached": False,
    "score": 1.0,
}


def test_packed_records_read_back_exactly_and_cost_their_utf8_size():
    blob = pack([RECORD] * 3)
    assert unpack(blob) == [RECORD] * 3
    text = RECORD["output"].encode()
    assert len(pack(RECORD["output"])) <= len(text) + 5


def test_a_cell_is_stored_packed_and_a_cell_stored_before_packing_still_reads(ws):
    runs = RunRepository(ws.container.db)
    lb, run = f"lb_{uuid.uuid4().hex[:8]}", "run_1"
    now = datetime.now(UTC)
    legacy = {"leaderboard_model_id": "m", "chunk": 0, "state": "partial", "n": 1,
              "samples": [RECORD], "updated_at": now}  # fmt: skip
    runs._cells(ws.id, lb, run).document("m_0").set(legacy)
    assert runs.get_cell(ws.id, lb, run, "m_0") == legacy

    claim = runs.claim_cell(ws.id, lb, run, "m_0", states=("partial",), owner="me", now=now,
                            until=now + timedelta(minutes=1), placeholder={})  # fmt: skip
    assert claim.outcome == "claimed" and claim.cell["samples"] == [RECORD]
    second = {**RECORD, "index": 1, "output": "two"}
    cell = {**legacy, "state": "scored", "n": 2, "samples": [RECORD, second]}
    assert runs.save_cell(ws.id, lb, run, "m_0", cell, owner="me")

    stored = runs._cells(ws.id, lb, run).document("m_0").get().to_dict()
    assert "samples" not in stored and isinstance(stored["samples_packed"], bytes)
    assert runs.get_cell(ws.id, lb, run, "m_0")["samples"] == [RECORD, second]
    assert [c["samples"] for c in runs.cells(ws.id, lb, run)] == [[RECORD, second]]


def test_cache_entries_are_stored_packed_and_entries_stored_as_maps_still_read(ws):
    runs = RunRepository(ws.container.db)
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    entry = {"output": RECORD["output"], "latency_ms": 200.0, "tokens_in": 1}
    runs._cache(ws.id).document("old").set({"entries": {"k1": entry}, "expires_at": later})
    runs.cache_put(ws.id, CacheWrite("new", {"k1": entry}, later))
    runs.cache_put(ws.id, CacheWrite("new", {"k2": {**entry, "output": "b"}}, later))

    found = runs.cached(ws.id, ["old", "new", "absent"], now)
    assert found == {"old": {"k1": entry}, "new": {"k1": entry, "k2": {**entry, "output": "b"}}}
    stored = runs._cache(ws.id).document("new").get().to_dict()
    assert all(isinstance(v, bytes) for v in stored["entries"].values())
