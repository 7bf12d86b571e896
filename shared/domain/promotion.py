"""``ranking_winner``: when a challenger replaces the chosen model, with the error controlled over
time, not per run.

The promise is that the chosen model changes only when a challenger is really better. Testing
the data-selected best challenger again on every scheduled run breaks it twice over: the best
of K-1 equal models looks better by chance, and every run is another chance. With 5 equal
models, 20 re-runs switched the choice at least once in ~80% of cases. So:

- **Evidence persists across runs.** Each challenger's paired differences to the incumbent
  (``PairedStats``: count, sum, sum of squares) are pooled over the runs since the incumbent
  was chosen, stored on the leaderboard (``promotion_evidence``). A real edge grows with the
  pooled sample; noise does not. Only samples where *both* answers are fresh count: an answer
  served from the response cache repeats one already counted, so a cached re-run adds nothing.
- **Alpha is spent across runs.** The t-th run that adds evidence for a challenger may spend
  ``alpha / (t·(t+1))`` of the budget (these sum to ``alpha`` over an unbounded schedule), so
  looking again every run cannot add up to more than ``alpha``: the p-value of the pooled paired
  t-test is divided by ``1 / (t·(t+1))`` before the correction below.
- **Holm across challengers.** All challengers are tested, not just the top one, with Holm's
  step-down correction at a one-sided family-wise ``alpha`` (2.5%).
- **A practical margin and a minimum sample.** The pooled mean difference must reach
  ``promotion_margin`` (``eval_metadata``, default 0.02 on the 0-1 scale) and rest on at least
  ``promotion_min_paired_n`` fresh pairs (default 30): a significant edge too small to matter
  is not worth switching models for.

Unscored samples count as wrong on both sides (``statistics.counted_wrong``). When several
challengers pass, the one with the largest pooled difference is promoted. After a promotion the
evidence starts afresh against the new incumbent.

Why pooling with alpha spending rather than "pass k runs in a row": requiring repeated passes
costs power at every run (a real 0.05 edge at n=1000 would pass two runs in a row only ~60% of
the time), while pooling makes the evidence stronger each run, which is what lets a real edge
through within three runs (``benchmarks/bench_validity.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.statistics import ModelSummary, PairedStats, holm, paired_stats

Doc = dict[str, Any]

ALPHA = 0.025  # one-sided family-wise level over all challengers and all runs
DEFAULT_MARGIN = 0.02
DEFAULT_MIN_PAIRED_N = 30
CORRECTION = "holm across challengers; alpha/(t(t+1)) at a challenger's t-th run of evidence"


@dataclass(frozen=True)
class PromotionSettings:
    margin: float = DEFAULT_MARGIN
    min_paired_n: int = DEFAULT_MIN_PAIRED_N
    alpha: float = ALPHA


def settings_from(eval_metadata: Mapping[str, Any] | None) -> PromotionSettings:
    """The run's settings from its ``eval_metadata`` snapshot (validated when saved)."""
    meta = eval_metadata or {}
    margin = meta.get("promotion_margin")
    min_n = meta.get("promotion_min_paired_n")
    return PromotionSettings(
        margin=DEFAULT_MARGIN if margin is None else float(margin),
        min_paired_n=DEFAULT_MIN_PAIRED_N if min_n is None else int(min_n),
    )


def spending(look: int) -> float:
    """The share of ``alpha`` the ``look``-th run of evidence may spend (sums to 1)."""
    return 1.0 / (look * (look + 1))


@dataclass(frozen=True)
class Decision:
    report: Doc  # stored on the run as ``promotion``
    evidence: Doc | None  # the leaderboard's new ``promotion_evidence``; None: leave it as it is


def _pooled_from(evidence: Doc | None, incumbent: str) -> dict[str, tuple[PairedStats, int]]:
    if not evidence or evidence.get("incumbent") != incumbent:
        return {}
    return {
        c["leaderboard_model_id"]: (
            PairedStats(int(c["n"]), float(c["total"]), float(c["total_sq"])),
            int(c["runs"]),
        )
        for c in evidence.get("challengers") or []
    }


def _evidence_doc(incumbent: str, pooled: Mapping[str, tuple[PairedStats, int]]) -> Doc:
    return {
        "incumbent": incumbent,
        "challengers": [
            {
                "leaderboard_model_id": model_id,
                "n": stats.n,
                "total": stats.total,
                "total_sq": stats.total_sq,
                "runs": runs,
            }
            for model_id, (stats, runs) in sorted(pooled.items())
        ],
    }


def _interval_doc(stats: PairedStats) -> Doc:
    interval = stats.interval()
    return {
        "n": stats.n,
        "diff": stats.mean,
        "ci_low": interval[0] if interval else None,
        "ci_high": interval[1] if interval else None,
    }


def _top(summaries: Sequence[ModelSummary]) -> str | None:
    scored = [s for s in summaries if s.n > 0]
    if not scored:
        return None
    return min(scored, key=lambda s: (s.rank, -(s.score_all or 0.0), s.model_id)).model_id


def decide(
    *,
    strategy: str,
    previous: str | None,
    scores: Mapping[str, Sequence[float | None]],
    summaries: Sequence[ModelSummary],
    fresh: Mapping[str, Sequence[bool]] | None = None,
    evidence: Doc | None = None,
    settings: PromotionSettings | None = None,
) -> Decision:
    """The promotion decision for one finished run, and the evidence to keep for the next.

    ``fresh[model][i]`` says whether the model's answer to sample ``i`` was produced by this run
    (not served from the response cache); without it every answer is fresh. ``evidence`` is the
    leaderboard's ``promotion_evidence`` as read in the same transaction that stores the result.
    """
    settings = settings or PromotionSettings()
    base: Doc = {
        "strategy": strategy,
        "previous": previous,
        "chosen": previous,
        "promoted": False,
        "margin": settings.margin,
        "min_paired_n": settings.min_paired_n,
        "alpha": settings.alpha,
        "correction": CORRECTION,
        "comparisons": [],
    }
    if strategy != "ranking_winner":
        return Decision(base | {"reason": "the strategy is manual"}, None)
    top = _top(summaries)
    if top is None:
        return Decision(base | {"reason": "no model was scored"}, None)
    if previous is None:
        reason = "no model was chosen yet: the top-ranked model is chosen"
        return Decision(
            base | {"chosen": top, "promoted": True, "reason": reason},
            {
                "incumbent": top,
                "challengers": [],
            },
        )
    if previous not in scores:
        return Decision(base | {"reason": "the chosen model was not part of this run"}, None)

    run_stats: dict[str, PairedStats] = {}
    for model_id in sorted(m for m in scores if m != previous):
        include = None
        if fresh is not None:
            include = [a and b for a, b in zip(fresh[model_id], fresh[previous], strict=True)]
        run_stats[model_id] = paired_stats(scores[model_id], scores[previous], include)
    return weigh(
        base=base, previous=previous, run_stats=run_stats, evidence=evidence, settings=settings
    )


def weigh(
    *,
    previous: str,
    run_stats: Mapping[str, PairedStats],
    evidence: Doc | None,
    settings: PromotionSettings,
    base: Doc | None = None,
) -> Decision:
    """The decision from this run's fresh paired statistics per challenger (challenger -
    ``previous``) and the evidence so far: pooling, alpha spending, Holm, margin, minimum n.
    ``benchmarks/bench_validity.py`` calls this with statistics it simulates."""
    base = dict(base or {"previous": previous, "chosen": previous, "promoted": False})
    challengers = sorted(run_stats)
    prior = _pooled_from(evidence, previous)
    pooled: dict[str, tuple[PairedStats, int]] = dict(prior)
    for model_id, stats in run_stats.items():
        if stats.n:
            before, runs = prior.get(model_id, (PairedStats(), 0))
            pooled[model_id] = (before + stats, runs + 1)

    if not any(stats.n for stats in run_stats.values()):
        reason = "no fresh answers in this run: cached answers add no evidence"
        return Decision(base | {"reason": reason, "comparisons": []}, None)

    spent = {
        m: min(1.0, pooled[m][0].p_value() / spending(pooled[m][1])) if m in pooled else 1.0
        for m in challengers
    }
    rejected = holm(spent, settings.alpha)
    order = sorted(spent, key=lambda m: (spent[m], m))
    levels = {m: settings.alpha / (len(order) - k) for k, m in enumerate(order)}
    eligible = []
    comparisons = []
    for model_id in challengers:
        stats, runs = pooled.get(model_id, (PairedStats(), 0))
        mean = stats.mean
        significant = rejected[model_id]
        meets_margin = mean is not None and mean >= settings.margin
        meets_n = stats.n >= settings.min_paired_n
        if significant and meets_margin and meets_n:
            eligible.append(model_id)
        comparisons.append(
            {
                "leaderboard_model_id": model_id,
                "run": _interval_doc(run_stats[model_id]),
                "pooled": _interval_doc(stats) | {"runs": runs},
                "p_value": stats.p_value(),
                "p_spent": spent[model_id],
                "holm_level": levels[model_id],
                "significant": significant,
                "meets_margin": meets_margin,
                "meets_min_paired_n": meets_n,
            }
        )
    winner = max(eligible, key=lambda m: (pooled[m][0].mean or 0.0, m)) if eligible else None
    for comparison in comparisons:
        comparison["reason"] = _why(comparison, winner, settings)
    base["comparisons"] = comparisons
    if winner is None:
        reason = "no challenger is better than the chosen model beyond noise and the margin"
        return Decision(base | {"reason": reason}, _evidence_doc(previous, pooled))
    stats, runs = pooled[winner]
    reason = (
        f"better than the chosen model by {stats.mean:.3f} over {stats.n} fresh pairs in "
        f"{runs} run(s), beyond the margin {settings.margin} and significant after correction"
    )
    return Decision(
        base | {"chosen": winner, "promoted": True, "reason": reason},
        {"incumbent": winner, "challengers": []},
    )


def _why(comparison: Doc, winner: str | None, settings: PromotionSettings) -> str:
    if comparison["leaderboard_model_id"] == winner:
        return "promoted"
    if comparison["pooled"]["n"] == 0:
        return "no fresh pairs with the chosen model yet"
    if not comparison["meets_min_paired_n"]:
        return f"fewer than {settings.min_paired_n} fresh pairs so far"
    if not comparison["significant"]:
        return (
            f"not significant after correction (p {comparison['p_spent']:.3g} > "
            f"{comparison['holm_level']:.3g})"
        )
    if not comparison["meets_margin"]:
        return f"significant but below the margin {settings.margin}"
    return "passed, but another challenger is further ahead"
