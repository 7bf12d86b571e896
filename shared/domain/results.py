"""What a finished run reports: one row per model, and whether the chosen model changes.

Pure functions over the cells' per-sample records, so finalize stays a thin step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.domain.statistics import RANK_RULE, ModelSummary, percentile

Doc = dict[str, Any]


def model_result(summary: ModelSummary, name: str, samples: Sequence[Doc]) -> Doc:
    """A results row. Errored samples count against ``success_rate``; ``score`` leaves them
    (and unscored ones) out, ``score_all`` counts them as wrong, and ranks use the latter;
    latency, tokens and cost describe the answers (a cached answer keeps its original figures,
    so a model's cost does not depend on what happened to be cached)."""
    answered = [s for s in samples if s.get("error") is None and s.get("output") is not None]
    latencies = [float(s["latency_ms"]) for s in answered if s.get("latency_ms") is not None]
    costs = [s["cost_usd"] for s in answered if s.get("cost_usd") is not None]
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
        "success_rate": len(answered) / len(samples) if samples else 0.0,
        "errors": len(samples) - len(answered),
        "unscored": sum(1 for s in answered if s.get("score") is None),
        "latency_ms": {
            q: percentile(latencies, v) for q, v in (("p50", 50), ("p90", 90), ("p99", 99))
        },
        "tokens_in": sum(int(s.get("tokens_in") or 0) for s in answered),
        "tokens_out": sum(int(s.get("tokens_out") or 0) for s in answered),
        "cost_usd": round(sum(costs), 10) if costs else None,
        "cache_hits": sum(1 for s in samples if s.get("cached")),
    }


def freshness(samples: Sequence[Doc]) -> list[bool]:
    """Per sample: whether this run produced the answer (a cached answer repeats evidence)."""
    return [not s.get("cached") for s in samples]
