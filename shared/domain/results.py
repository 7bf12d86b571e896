"""What a finished run reports: one row per model, and whether the chosen model changes.

Pure functions over the cells' per-sample records, so finalize stays a thin step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.domain.statistics import RANK_RULE, ModelSummary, percentile

Doc = dict[str, Any]


def cell_summary(samples: Sequence[Doc]) -> Doc:
    """What finalize needs of one scored cell, computed when the cell is saved: its scores in
    sample order (NaN: unscored or errored), which answers are fresh (not cached), the
    answered samples' latencies, and totals. The per-sample numbers are packed into bytes
    (little-endian float64, one byte per flag): a few values per cell instead of hundreds, so
    reading 12,500 summaries is a matter of seconds, not of decoding millions of values."""
    ordered = list(samples)  # in sample order, as cells keep them
    answered = [s for s in ordered if s.get("error") is None and s.get("output") is not None]
    costs = [float(s["cost_usd"]) for s in answered if s.get("cost_usd") is not None]
    return {
        "packed": 1,
        "n": len(ordered),
        "scores": pack_floats([s.get("score") for s in ordered]),
        "fresh": np.array([not s.get("cached") for s in ordered], dtype=np.uint8).tobytes(),
        "latencies": pack_floats(
            [float(s["latency_ms"]) for s in answered if s.get("latency_ms") is not None]
        ),
        "answered": len(answered),
        "unscored": sum(1 for s in answered if s.get("score") is None),
        "tokens_in": sum(int(s.get("tokens_in") or 0) for s in answered),
        "tokens_out": sum(int(s.get("tokens_out") or 0) for s in answered),
        "cost_usd": math.fsum(costs) if costs else None,
        "cache_hits": sum(1 for s in ordered if s.get("cached")),
        # Pairwise judging: pairs judged in both orders, and those whose verdict flipped.
        "pairs": sum(1 for s in ordered if s.get("pair_inconsistent") is not None),
        "inconsistent": sum(1 for s in ordered if s.get("pair_inconsistent")),
    }


def pack_floats(values: Sequence[float | None]) -> bytes:
    """Floats as little-endian float64 bytes, None as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype="<f8").tobytes()


def _floats(value: bytes | Sequence[float | None]) -> np.ndarray:
    """A summary's packed floats (or, from a summary written before packing, its list)."""
    if isinstance(value, bytes | bytearray):
        return np.frombuffer(value, dtype="<f8").astype(float)
    return np.array([np.nan if v is None else v for v in value], dtype=float)


def _flags(value: bytes | Sequence[bool]) -> np.ndarray:
    if isinstance(value, bytes | bytearray):
        return np.frombuffer(value, dtype=np.uint8).astype(bool)
    return np.array(list(value), dtype=bool)


def combine(parts: Sequence[Doc]) -> Doc:
    """One model's cell summaries, in chunk order, as one: ``scores`` (NaN unscored),
    ``fresh`` and ``latencies`` as arrays."""
    costs = [p["cost_usd"] for p in parts if p.get("cost_usd") is not None]

    def joined(field: str, decode: Any, dtype: Any) -> np.ndarray:
        arrays = [decode(p[field]) for p in parts]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    return {
        "n": sum(int(p["n"]) for p in parts),
        "scores": joined("scores", _floats, float),
        "fresh": joined("fresh", _flags, bool),
        "latencies": joined("latencies", _floats, float),
        "answered": sum(int(p["answered"]) for p in parts),
        "unscored": sum(int(p["unscored"]) for p in parts),
        "tokens_in": sum(int(p["tokens_in"]) for p in parts),
        "tokens_out": sum(int(p["tokens_out"]) for p in parts),
        "cost_usd": math.fsum(costs) if costs else None,
        "cache_hits": sum(int(p["cache_hits"]) for p in parts),
        "pairs": sum(int(p.get("pairs") or 0) for p in parts),
        "inconsistent": sum(int(p.get("inconsistent") or 0) for p in parts),
    }


def model_result(summary: ModelSummary, name: str, samples: Sequence[Doc] | Doc) -> Doc:
    """A results row, from a model's samples or their combined cell summaries. Errored samples
    count against ``success_rate``; ``score`` leaves them (and unscored ones) out, ``score_all``
    counts them as wrong, and ranks use the latter; latency, tokens and cost describe the
    answers (a cached answer keeps its original figures, so a model's cost does not depend on
    what happened to be cached)."""
    c = samples if isinstance(samples, dict) else combine([cell_summary(samples)])
    latencies = np.asarray(c["latencies"], dtype=float)
    return {
        "leaderboard_model_id": summary.model_id,
        "name": name,
        "score": summary.score,
        "score_std": summary.score_std,
        "n": summary.n,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
        "rank": summary.rank,
        "rank_rule": RANK_RULE,
        "ci_method": summary.ci_method,
        "score_all": summary.score_all,
        "n_all": summary.n_all,
        "ci_low_all": summary.ci_low_all,
        "ci_high_all": summary.ci_high_all,
        "success_rate": c["answered"] / c["n"] if c["n"] else 0.0,
        "errors": c["n"] - c["answered"],
        "unscored": c["unscored"],
        "latency_ms": {
            q: percentile(latencies, v) for q, v in (("p50", 50), ("p90", 90), ("p99", 99))
        },
        "tokens_in": c["tokens_in"],
        "tokens_out": c["tokens_out"],
        "cost_usd": round(c["cost_usd"], 10) if c["cost_usd"] is not None else None,
        "cache_hits": c["cache_hits"],
    }
