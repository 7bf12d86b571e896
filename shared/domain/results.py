"""What a finished run reports: one row per model, and whether the chosen model changes.

Pure functions over the cells' per-sample records, so finalize stays a thin step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.domain.leaderboards import ChosenModelStrategy
from shared.domain.statistics import ModelSummary, percentile, significantly_better

Doc = dict[str, Any]


def model_result(summary: ModelSummary, name: str, samples: Sequence[Doc]) -> Doc:
    """A results row. Errored samples count against ``success_rate`` and are never scored;
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


def decide_promotion(
    *,
    strategy: str,
    previous: str | None,
    scores: Mapping[str, Sequence[float | None]],
    summaries: Sequence[ModelSummary],
) -> Doc:
    """``ranking_winner``: promote the top model only when nothing is chosen yet or when it is
    significantly better than the chosen one (paired bootstrap of the difference), so a re-run
    on noise does not flap the choice. Always says why."""
    scored = [s for s in summaries if s.n > 0]
    top = max(scored, key=lambda s: (-s.rank, s.score or 0.0)).model_id if scored else None
    base: Doc = {"strategy": strategy, "previous": previous, "chosen": previous, "promoted": False}
    if strategy != ChosenModelStrategy.RANKING_WINNER:
        return base | {"reason": "the strategy is manual"}
    if top is None:
        return base | {"reason": "no model was scored"}
    if previous == top:
        return base | {"reason": "the chosen model is still the top model"}
    if previous is None:
        return base | {"chosen": top, "promoted": True, "reason": "no model was chosen yet"}
    if previous not in scores:
        return base | {"reason": "the chosen model was not part of this run"}
    if significantly_better(scores, top, previous):
        reason = "significantly better than the chosen model"
        return base | {"chosen": top, "promoted": True, "reason": reason}
    return base | {"reason": "not significantly better than the chosen model"}
