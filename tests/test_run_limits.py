"""The byte budgets that keep every chunk and cell of a run under Firestore's 1 MiB, the text
cleaning that keeps what Firestore refuses out, and the settings that tie leases to stalls."""

from __future__ import annotations

import json

import pytest

from shared.config import Settings
from shared.domain.results import cell_summary
from shared.domain.runs import (
    CELL_MAX_BYTES,
    ERROR_MAX_BYTES,
    MIN_OUTPUT_BYTES,
    SAMPLE_OVERHEAD_BYTES,
    chunk_starts,
    output_budget,
    plan_chunks,
    row_bytes,
)
from shared.domain.text import clean_text, truncate_utf8


def rows(*sizes: int) -> list[dict[str, object]]:
    return [{"index": i, "input": "x" * n} for i, n in enumerate(sizes)]


def test_chunks_are_cut_by_rows_and_by_bytes():
    assert [len(c) for c in plan_chunks(rows(*[10] * 7), max_rows=3)] == [3, 3, 1]
    big = rows(600, 600, 10, 10, 950, 10)
    chunks = plan_chunks(big, max_rows=50, max_bytes=1000)
    assert [[r["index"] for r in c] for c in chunks] == [[0], [1, 2, 3], [4], [5]]
    assert all(sum(row_bytes(r) for r in c) <= 1000 for c in chunks)
    assert chunk_starts(chunks) == [0, 1, 4, 5]


def test_bytes_are_counted_encoded():
    (one,) = plan_chunks(rows(10), max_rows=5)
    wide = [{"index": 0, "input": "\u65e5" * 300}]  # 900 bytes in UTF-8, 300 characters
    assert row_bytes(wide[0]) > 900
    with pytest.raises(ValueError, match="cannot fit"):
        plan_chunks(wide, max_rows=5, max_bytes=500)
    assert one[0]["index"] == 0


def test_an_empty_dataset_is_one_empty_chunk():
    assert plan_chunks([], max_rows=5) == [[]]


@pytest.mark.parametrize("samples", [1, 5, 50, 200])
def test_a_full_cell_of_maximal_answers_fits_its_document(samples):
    budget = output_budget(samples, output_max_chars=8000)
    assert budget >= MIN_OUTPUT_BYTES
    # An answer has no error, and the judge leaves a reason or an error, not both; a sample
    # whose call failed has an error and no answer.
    answered = {
        "index": 99999, "output": "\u65e5" * (budget // 3), "truncated": True,
        "error": None, "judge_reason": "r" * 1000, "judge_error": None, "judged": True,
        "score": 0.5, "pair_inconsistent": False, "latency_ms": 123456.789,
        "tokens_in": 10**9, "tokens_out": 10**9, "cost_usd": 1234.5678, "cached": False,
    }  # fmt: skip
    failed = {**answered, "output": None, "error": "e" * ERROR_MAX_BYTES, "judge_reason": None}
    for record in (answered, failed):
        cell = [record] * samples
        # Packed bytes are stored as bytes: count them one for one.
        summary = {k: ("x" * len(v) if isinstance(v, bytes) else v)
                   for k, v in cell_summary(cell).items()}  # fmt: skip
        size = len(json.dumps({"samples": cell, "summary": summary}, ensure_ascii=False).encode())
        assert size <= CELL_MAX_BYTES + samples * 100 < 1024 * 1024


def test_the_answer_budget_never_exceeds_what_output_max_chars_allows():
    assert output_budget(1, output_max_chars=100) == 400
    assert output_budget(50, output_max_chars=8000) == CELL_MAX_BYTES // 50 - SAMPLE_OVERHEAD_BYTES


def test_clean_text_replaces_only_lone_surrogates():
    decoded = json.loads('"a\\udcffb\\ud83d\\ude00c\\ud800"')
    assert clean_text(decoded) == "a\ufffdb\U0001f600c\ufffd"
    assert clean_text("plain") == "plain"


def test_truncate_utf8_never_splits_a_character():
    assert truncate_utf8("h\u00e9llo", 2) == "h"
    assert truncate_utf8("\u65e5\u672c", 4) == "\u65e5"
    assert truncate_utf8("short", 100) == "short"


def test_the_stall_window_must_outlast_two_leases():
    with pytest.raises(ValueError, match="RUN_STALL_SECONDS"):
        Settings(run_lease_seconds=60, run_stall_seconds=100)
    assert Settings(run_lease_seconds=60, run_stall_seconds=120).run_stall_seconds == 120


def test_chunk_size_is_bounded_so_answers_keep_a_useful_share():
    with pytest.raises(ValueError, match="run_chunk_size"):
        Settings(run_chunk_size=500)


def test_a_boot_with_a_stall_shorter_than_two_leases_names_both_settings():
    from pydantic import ValidationError

    from shared.boot import describe

    with pytest.raises(ValidationError) as caught:
        Settings(run_lease_seconds=60, run_stall_seconds=100)
    assert describe(caught.value) == (
        "invalid settings: RUN_STALL_SECONDS (100) must be at least twice RUN_LEASE_SECONDS (60)"
    )


def test_a_call_option_is_not_part_of_the_cache_key():
    from shared.domain.runs import cache_key

    def key(parameters: dict[str, object]) -> str:
        return cache_key(provider="Custom", endpoint="http://m/v1", model=None,
                         parameters=parameters, messages=[{"role": "user", "content": "hi"}])  # fmt: skip

    assert key({"temperature": 0}) == key({"temperature": 0, "timeout_seconds": 30})
    assert key({"temperature": 0}) != key({"temperature": 1})
