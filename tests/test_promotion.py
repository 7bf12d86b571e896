"""ranking_winner over time: pooled fresh evidence, alpha spending, Holm, margin, minimum n."""

from __future__ import annotations

import pytest

from benchmarks.bench_validity import simulate
from shared.domain.promotion import (
    PromotionSettings,
    decide,
    settings_from,
    spending,
    weigh,
)
from shared.domain.statistics import PairedStats, summarize


def binary(correct: int, total: int) -> list[float | None]:
    return [1.0] * correct + [0.0] * (total - correct)


def pair(plus: int, minus: int, n: int) -> dict[str, list[float | None]]:
    """Incumbent "i" and challenger "c": c alone right on ``plus`` samples, i alone on
    ``minus``, both right on none of the rest."""
    i: list[float | None] = [1.0] * minus + [0.0] * (n - minus)
    c: list[float | None] = [0.0] * minus + [1.0] * plus + [0.0] * (n - minus - plus)
    return {"i": i, "c": c}


def run(scores, previous, evidence=None, fresh=None, settings=None):
    return decide(
        strategy="ranking_winner",
        previous=previous,
        scores=scores,
        summaries=summarize(scores),
        fresh=fresh,
        evidence=evidence,
        settings=settings,
    )


def test_spending_sums_to_one_over_an_unbounded_schedule():
    assert spending(1) == 0.5
    assert sum(spending(t) for t in range(1, 10_000)) == pytest.approx(1, abs=1e-3)


def test_settings_come_from_eval_metadata_with_defaults():
    assert settings_from(None) == PromotionSettings(margin=0.02, min_paired_n=30)
    assert settings_from({"promotion_margin": 0.05, "promotion_min_paired_n": 100}) == (
        PromotionSettings(margin=0.05, min_paired_n=100)
    )


def test_evidence_too_weak_in_one_run_is_pooled_and_promotes_later():
    # c is ahead on 14 samples, behind on 5, of 100 per run: p ~ 0.019 in one run is not
    # enough after alpha spending (0.025 / 2); two runs pooled are (p ~ 0.0016 < 0.025 / 6).
    scores = pair(14, 5, 100)
    first = run(scores, "i")
    assert not first.report["promoted"]
    assert first.evidence is not None
    (pooled,) = first.evidence["challengers"]
    assert (pooled["leaderboard_model_id"], pooled["n"], pooled["runs"]) == ("c", 100, 1)
    second = run(scores, "i", evidence=first.evidence)
    assert second.report["promoted"] and second.report["chosen"] == "c"
    assert second.report["comparisons"][0]["pooled"]["runs"] == 2
    assert second.evidence == {"incumbent": "c", "challengers": []}


def test_cached_answers_add_no_evidence():
    scores = pair(14, 5, 100)
    first = run(scores, "i")
    cached = {"i": [False] * 100, "c": [False] * 100}
    again = run(scores, "i", evidence=first.evidence, fresh=cached)
    assert not again.report["promoted"]
    assert again.evidence is None  # nothing to store: the pooled evidence stays as it was
    assert again.report["reason"] == "no fresh answers in this run: cached answers add no evidence"
    # One side cached is a repeated pair too.
    half = {"i": [True] * 100, "c": [False] * 100}
    assert run(scores, "i", evidence=first.evidence, fresh=half).evidence is None


def test_evidence_about_another_incumbent_is_ignored():
    stale = run(pair(14, 5, 100), "i").evidence
    assert stale is not None
    scores = pair(14, 5, 100)
    fresh = run({"j": scores["i"], "c": scores["c"]}, "j", evidence=stale)
    assert fresh.report["comparisons"][0]["pooled"]["runs"] == 1


def test_a_significant_edge_below_the_margin_does_not_promote():
    # 1,000 samples, c right on 15 more: p ~ 1e-4 but the edge is 0.015 < 0.02.
    scores = {"i": binary(500, 1000), "c": binary(515, 1000)}
    decision = run(scores, "i")
    (comparison,) = decision.report["comparisons"]
    assert comparison["significant"] and not comparison["meets_margin"]
    assert comparison["reason"] == "significant but below the margin 0.02"
    assert run(scores, "i", settings=PromotionSettings(margin=0.01)).report["promoted"]


def test_too_few_pairs_does_not_promote():
    scores = {"i": binary(0, 10), "c": binary(10, 10)}
    decision = run(scores, "i")
    assert not decision.report["promoted"]
    assert decision.report["comparisons"][0]["reason"] == "fewer than 30 fresh pairs so far"
    assert run(scores, "i", settings=PromotionSettings(min_paired_n=10)).report["promoted"]


def test_holm_across_challengers_and_the_best_passing_one_wins():
    # p spent for "c" alone would pass; among equal challengers Holm asks more of it.
    stats = {"c": PairedStats(1000, 110 - 70, 110 + 70)}  # p ~ 0.0014, p spent ~ 0.0028
    alone = weigh(previous="i", run_stats=stats, evidence=None, settings=PromotionSettings())
    crowd_stats = stats | {f"x{k}": PairedStats(1000, 0.0, 500.0) for k in range(9)}
    crowd = weigh(previous="i", run_stats=crowd_stats, evidence=None, settings=PromotionSettings())
    p_spent = alone.report["comparisons"][0]["p_spent"]
    assert p_spent < 0.025 < 10 * p_spent  # passes alone, not against 0.025 / 10
    assert alone.report["promoted"] and not crowd.report["promoted"]
    levels = [c["holm_level"] for c in crowd.report["comparisons"]]
    assert min(levels) == pytest.approx(0.0025)
    both = weigh(
        previous="i",
        run_stats={
            "c": PairedStats(1000, 100, 100),
            "d": PairedStats(1000, 200, 200),
        },
        evidence=None,
        settings=PromotionSettings(),
    )
    assert both.report["chosen"] == "d"
    reasons = {c["leaderboard_model_id"]: c["reason"] for c in both.report["comparisons"]}
    assert reasons == {"c": "passed, but another challenger is further ahead", "d": "promoted"}


def test_bounded_simulation_equal_models_rarely_switch_and_a_real_edge_gets_through():
    # Seeded, so deterministic; small, so fast. The full figures: benchmarks/bench_validity.py.
    switched, _ = simulate(
        probabilities=[0.7] * 5, n=200, runs=20, sims=150, seed=1, settings=PromotionSettings()
    )
    assert switched <= 0.05
    _, promoted_by_3 = simulate(
        probabilities=[0.7, 0.75], n=1000, runs=3, sims=100, seed=2, settings=PromotionSettings()
    )
    assert promoted_by_3 >= 0.8
