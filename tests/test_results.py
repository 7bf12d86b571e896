"""Results rows and the chosen-model decision, as pure functions."""

from __future__ import annotations

import pytest

from shared.domain.promotion import decide as decide_promotion
from shared.domain.results import model_result
from shared.domain.statistics import summarize

STRONG = [1.0] * 36 + [0.0] * 4
WEAK = [1.0] * 8 + [0.0] * 32
CLOSE = [1.0] * 35 + [0.0] * 5


def decide(strategy="ranking_winner", previous=None, scores=None):
    scores = scores or {"a": STRONG, "b": WEAK}
    return decide_promotion(
        strategy=strategy, previous=previous, scores=scores, summaries=summarize(scores)
    ).report


@pytest.mark.parametrize(
    ("kwargs", "promoted", "chosen", "reason"),
    [
        ({"strategy": "manual", "previous": "b"}, False, "b", "the strategy is manual"),
        ({"scores": {"a": [None] * 5, "b": [None] * 5}}, False, None, "no model was scored"),
        (
            {"previous": "a"},
            False,
            "a",
            "no challenger is better than the chosen model beyond noise and the margin",
        ),
        ({}, True, "a", "no model was chosen yet: the top-ranked model is chosen"),
        ({"previous": "gone"}, False, "gone", "the chosen model was not part of this run"),
        (
            {"previous": "b"},
            True,
            "a",
            "better than the chosen model by 0.700 over 40 fresh pairs in 1 run(s), beyond the "
            "margin 0.02 and significant after correction",
        ),
        (
            {"previous": "b", "scores": {"a": STRONG, "b": CLOSE}},
            False,
            "b",
            "no challenger is better than the chosen model beyond noise and the margin",
        ),
    ],
)
def test_decide_promotion(kwargs, promoted, chosen, reason):
    decision = decide(**kwargs)
    assert (decision["promoted"], decision["chosen"], decision["reason"]) == (
        promoted,
        chosen,
        reason,
    )


def test_the_report_shows_what_the_decision_saw():
    report = decide(previous="b", scores={"a": STRONG, "b": CLOSE})
    (comparison,) = report["comparisons"]
    assert comparison["leaderboard_model_id"] == "a"
    assert comparison["run"]["n"] == 40
    assert comparison["run"]["diff"] == pytest.approx(0.025)
    assert comparison["run"]["ci_low"] < 0 < comparison["run"]["ci_high"]
    assert comparison["pooled"]["runs"] == 1
    assert not comparison["significant"]
    assert comparison["reason"].startswith("not significant after correction")
    assert report["margin"] == 0.02 and report["min_paired_n"] == 30
    assert "holm" in report["correction"]


def test_model_result_counts_errors_unscored_latency_tokens_cost_and_cache():
    samples = [
        {
            "output": "x",
            "score": 1.0,
            "latency_ms": 100,
            "tokens_in": 5,
            "tokens_out": 1,
            "cost_usd": 0.5,
            "cached": False,
        },
        {
            "output": "y",
            "score": 0.0,
            "latency_ms": 300,
            "tokens_in": 5,
            "tokens_out": 2,
            "cost_usd": 0.25,
            "cached": True,
        },
        {
            "output": "z",
            "score": None,
            "latency_ms": 200,
            "tokens_in": 5,
            "tokens_out": 3,
            "cost_usd": None,
            "cached": False,
        },
        {"output": None, "error": "HTTP 400", "cached": False},
    ]
    summary = summarize({"m": [s.get("score") for s in samples]})[0]
    row = model_result(summary, "Model", samples)
    assert (row["score"], row["n"], row["errors"], row["unscored"]) == (0.5, 2, 1, 1)
    # The errored and the unscored sample count as wrong over all samples.
    assert (row["score_all"], row["n_all"], row["ci_method"]) == (0.25, 4, "wilson")
    assert row["rank_rule"] == "paired_holm"
    assert row["success_rate"] == 0.75
    assert row["latency_ms"] == {"p50": 200.0, "p90": 280.0, "p99": 298.0}
    assert (row["tokens_in"], row["tokens_out"], row["cost_usd"], row["cache_hits"]) == (
        15,
        6,
        0.75,
        1,
    )
    none = model_result(summarize({"m": [None]})[0], "Dead", [{"output": None, "error": "down"}])
    assert (none["score"], none["success_rate"], none["cost_usd"], none["latency_ms"]["p50"]) == (
        None,
        0.0,
        None,
        None,
    )


def test_packed_summaries_combine_to_what_the_samples_say_and_old_lists_still_read():
    import numpy as np

    from shared.domain.results import cell_summary, combine

    first = [
        {"output": "a", "error": None, "score": 1.0, "latency_ms": 100.0, "cached": False},
        {"output": None, "error": "down", "score": None, "cached": False},
        {"output": "b", "error": None, "score": None, "latency_ms": 300.0, "cached": True},
    ]
    second = [{"output": "c", "error": None, "score": 0.25, "latency_ms": 200.0}]
    packed = [cell_summary(first), cell_summary(second)]
    assert all(isinstance(p["scores"], bytes) for p in packed)
    # A summary as cells kept it before packing: plain lists.
    legacy = {
        **packed[1],
        "scores": [0.25],
        "fresh": [True],
        "latencies": [200.0],
    }
    for parts in (packed, [packed[0], legacy]):
        c = combine(parts)
        assert c["n"] == 4 and c["answered"] == 3 and c["unscored"] == 1
        np.testing.assert_array_equal(c["scores"], [1.0, np.nan, np.nan, 0.25])
        assert c["fresh"].tolist() == [True, True, False, True]
        assert c["latencies"].tolist() == [100.0, 300.0, 200.0]
    assert combine([])["scores"].size == 0
