"""Percentiles, paired-bootstrap intervals, overlap ranks and the significance test."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from shared.domain.statistics import (
    ModelSummary,
    percentile,
    significantly_better,
    summarize,
)

Scores = dict[str, Sequence[float | None]]


def binary(correct: int, total: int) -> list[float | None]:
    """``correct`` ones followed by zeros: an exact-match column with a known mean."""
    column: list[float | None] = [1.0] * correct
    return column + [0.0] * (total - correct)


def by_id(summaries: list[ModelSummary]) -> dict[str, ModelSummary]:
    return {s.model_id: s for s in summaries}


def noisy(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def bounds(summary: ModelSummary) -> tuple[float, float]:
    assert summary.ci_low is not None
    assert summary.ci_high is not None
    return summary.ci_low, summary.ci_high


# --------------------------------------------------------------------------------------------
# percentile
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    # numpy.percentile([1, 2, 3, 4], q) with the default linear method
    [(0, 1.0), (25, 1.75), (50, 2.5), (75, 3.25), (100, 4.0), (2.5, 1.075), (97.5, 3.925)],
)
def test_percentile_matches_numpy_linear(q, expected):
    assert percentile([1.0, 2.0, 3.0, 4.0], q) == pytest.approx(expected)


def test_percentile_sorts_its_input_and_leaves_it_alone():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert values == [4.0, 1.0, 3.0, 2.0]


def test_percentile_of_one_value_and_of_constants_is_exact():
    assert percentile([0.3], 12.5) == 0.3
    assert percentile([0.1] * 7, 97.5) == 0.1


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


@pytest.mark.parametrize("q", [-0.1, 100.1, math.nan])
def test_percentile_rejects_q_outside_0_100(q):
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], q)


def test_percentile_rejects_nan_values():
    with pytest.raises(ValueError, match="NaN"):
        percentile([1.0, math.nan], 50)


# --------------------------------------------------------------------------------------------
# summarize: point estimates
# --------------------------------------------------------------------------------------------


def test_mean_std_and_n_ignore_unscored_samples():
    (summary,) = summarize({"m": [1.0, None, 0.0, 1.0, None]})
    assert summary.n == 3
    assert summary.score == pytest.approx(2 / 3)
    # ddof=1: deviations 1/3, -2/3, 1/3 -> (1/9 + 4/9 + 1/9) / 2 = 1/3
    assert summary.score_std == pytest.approx(math.sqrt(1 / 3))


def test_std_uses_ddof_one():
    (summary,) = summarize({"m": [0.0, 1.0, 0.0, 1.0]})
    assert summary.score_std == pytest.approx(math.sqrt(1 / 3))


def test_single_scored_sample():
    summaries = by_id(summarize({"one": [None, 0.8, None], "full": [0.2, 0.4, 0.6]}))
    one = summaries["one"]
    assert (one.n, one.score, one.score_std) == (1, 0.8, 0.0)
    # One answer says nothing about the spread: the interval spans every observed score,
    # so it ties with the other model instead of claiming a precise 0.8.
    assert (one.ci_low, one.ci_high) == (0.2, 0.8)
    assert one.rank == summaries["full"].rank == 1


def test_never_scored_model():
    summaries = by_id(summarize({"ok": [1.0, 0.0, 1.0], "down": [None, None, None]}))
    down = summaries["down"]
    assert down == ModelSummary(
        model_id="down", score=None, score_std=None, n=0, ci_low=None, ci_high=None, rank=2
    )


def test_empty_inputs():
    assert summarize({}) == []
    summaries = summarize({"b": [], "a": []})
    assert [(s.model_id, s.n, s.score, s.rank) for s in summaries] == [
        ("a", 0, None, 1),
        ("b", 0, None, 1),
    ]


# --------------------------------------------------------------------------------------------
# summarize: intervals
# --------------------------------------------------------------------------------------------


def test_interval_contains_the_mean():
    scores: Scores = {
        "binary": binary(130, 200),
        "uniform": noisy(200, seed=1),
        "sparse": [v if i % 3 else None for i, v in enumerate(noisy(200, seed=2))],
    }
    for summary in summarize(scores):
        assert summary.ci_low is not None
        assert summary.ci_high is not None
        assert summary.score is not None
        assert summary.ci_low < summary.score < summary.ci_high


def test_interval_width_is_plausible():
    # 0/1 scores with p = 0.5, n = 400: normal-approximation half-width 1.96 * 0.025 = 0.049.
    (summary,) = summarize({"m": binary(200, 400)})
    assert summary.ci_low is not None
    assert summary.ci_high is not None
    assert summary.ci_high - summary.ci_low == pytest.approx(0.098, abs=0.015)


def test_constant_model_interval_collapses_to_a_point():
    (summary,) = summarize({"m": [0.7] * 50 + [None] * 5})
    assert summary.score_std == pytest.approx(0.0, abs=1e-12)
    low, high = bounds(summary)
    assert low == pytest.approx(0.7)
    assert high - low == pytest.approx(0.0, abs=1e-12)


def test_higher_confidence_gives_a_wider_interval():
    scores = {"m": noisy(300, seed=3)}
    (narrow,) = summarize(scores, confidence=0.8)
    (wide,) = summarize(scores, confidence=0.99)
    assert bounds(wide)[0] < bounds(narrow)[0] < bounds(narrow)[1] < bounds(wide)[1]


def test_same_seed_same_result_and_seed_matters():
    scores: Scores = {"a": noisy(100, seed=4), "b": noisy(100, seed=5), "c": binary(40, 100)}
    assert summarize(scores, seed=11) == summarize(scores, seed=11)
    assert summarize(scores, seed=11) != summarize(scores, seed=12)


def test_resamples_are_paired_across_models():
    # With one set of drawn indices per iteration, identical columns get identical intervals
    # down to the last bit; independent draws would give each its own.
    column = noisy(150, seed=6)
    summaries = summarize({"x": column, "y": list(column), "z": binary(75, 150)})
    x, y = by_id(summaries)["x"], by_id(summaries)["y"]
    assert (x.ci_low, x.ci_high) == (y.ci_low, y.ci_high)


def test_input_order_does_not_change_results():
    scores: Scores = {"a": noisy(80, seed=7), "b": binary(30, 80), "c": [None] * 80}
    reordered = dict(reversed(list(scores.items())))
    assert summarize(scores) == summarize(reordered)


# --------------------------------------------------------------------------------------------
# summarize: ranks
# --------------------------------------------------------------------------------------------


def test_identical_models_share_rank_one():
    column = binary(60, 100)
    summaries = summarize({"a": column, "b": list(column), "c": list(column)})
    assert [s.rank for s in summaries] == [1, 1, 1]
    # Ties in rank and score are ordered by id, so the output is stable.
    assert [s.model_id for s in summaries] == ["a", "b", "c"]


def test_clearly_separated_models_rank_in_order():
    summaries = summarize({"low": binary(10, 100), "high": binary(90, 100), "mid": binary(50, 100)})
    assert [(s.model_id, s.rank) for s in summaries] == [("high", 1), ("mid", 2), ("low", 3)]


def test_overlapping_middle_model_shares_the_top_rank():
    summaries = by_id(
        summarize({"a": binary(280, 400), "b": binary(248, 400), "c": binary(216, 400)})
    )
    a, b, c = summaries["a"], summaries["b"], summaries["c"]
    # The premise: b overlaps both neighbours, a and c are separated.
    assert bounds(b)[1] > bounds(a)[0]
    assert bounds(c)[1] > bounds(b)[0]
    assert bounds(a)[0] > bounds(c)[1]
    # b cannot be told apart from the best; c is beaten by a only.
    assert (a.rank, b.rank, c.rank) == (1, 1, 2)


def test_ranks_skip_like_competition_ranking():
    summaries = summarize(
        {"a": binary(90, 100), "b": binary(89, 100), "c": binary(10, 100), "d": binary(9, 100)}
    )
    assert [(s.model_id, s.rank) for s in summaries] == [("a", 1), ("b", 1), ("c", 3), ("d", 3)]


def test_unscored_models_rank_last_together():
    summaries = summarize(
        {
            "dead": [None] * 100,
            "good": binary(90, 100),
            "bad": binary(10, 100),
            "also-dead": [None] * 100,
        }
    )
    assert [(s.model_id, s.rank) for s in summaries] == [
        ("good", 1),
        ("bad", 2),
        ("also-dead", 3),
        ("dead", 3),
    ]


def test_rank_follows_the_overlap_rule_exactly():
    scores: Scores = {f"m{i}": binary(40 + 8 * i, 120) for i in range(6)}
    scores["sparse"] = [v if i % 5 == 0 else None for i, v in enumerate(binary(70, 120))]
    summaries = summarize(scores)
    for s in summaries:
        beaten_by = sum(1 for o in summaries if bounds(o)[0] > bounds(s)[1])
        assert s.rank == 1 + beaten_by
    keys = [(s.rank, -(s.score or 0.0), s.model_id) for s in summaries]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------------------------
# summarize: bad input
# --------------------------------------------------------------------------------------------


def test_sequences_must_have_one_entry_per_sample():
    with pytest.raises(ValueError, match="one entry per sample"):
        summarize({"a": [1.0, 0.0], "b": [1.0]})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_scores_must_be_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        summarize({"a": [1.0, bad]})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"confidence": 0.0}, "confidence"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 95}, "confidence"),
        ({"resamples": 0}, "resamples"),
    ],
)
def test_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        summarize({"a": [1.0, 0.0]}, **settings)
    with pytest.raises(ValueError, match=message):
        significantly_better({"a": [1.0, 0.0], "b": [0.0, 0.0]}, "a", "b", **settings)


# --------------------------------------------------------------------------------------------
# significantly_better
# --------------------------------------------------------------------------------------------


def test_paired_test_finds_a_small_consistent_edge_that_intervals_cannot():
    # Sample difficulty dominates (uniform noise across samples); B is always a bit better.
    a = noisy(300, seed=8)
    b = [v + 0.02 for v in a]
    scores = {"a": a, "b": b}
    summaries = by_id(summarize(scores))
    # The unpaired view: the two intervals overlap and the models share rank 1 ...
    assert bounds(summaries["b"])[0] < bounds(summaries["a"])[1]
    assert summaries["a"].rank == summaries["b"].rank == 1
    # ... the paired view sees the edge on every sample.
    assert significantly_better(scores, "b", "a")
    assert not significantly_better(scores, "a", "b")


def test_paired_test_with_noisy_per_sample_differences():
    rng = random.Random(9)
    a = noisy(300, seed=10)
    b = [v + 0.03 + rng.gauss(0, 0.05) for v in a]
    scores = {"a": a, "b": b}
    summaries = by_id(summarize(scores))
    assert summaries["a"].rank == summaries["b"].rank == 1
    assert significantly_better(scores, "b", "a")
    assert not significantly_better(scores, "a", "b")


def test_identical_models_are_not_significantly_different():
    column = noisy(200, seed=11)
    scores = {"a": column, "b": list(column)}
    assert not significantly_better(scores, "a", "b")
    assert not significantly_better(scores, "a", "a")


def test_pure_noise_is_not_significant():
    scores = {"a": noisy(200, seed=12), "b": noisy(200, seed=13)}
    assert not significantly_better(scores, "a", "b")
    assert not significantly_better(scores, "b", "a")


def test_clear_winner_on_binary_scores():
    scores = {"new": binary(90, 100), "old": binary(60, 100)}
    assert significantly_better(scores, "new", "old")
    assert not significantly_better(scores, "old", "new")


def test_only_samples_both_models_answered_count():
    # The challenger looks better only where the incumbent errored; on shared samples they tie.
    challenger = [1.0] * 50 + [0.5] * 50
    incumbent = [None] * 50 + [0.5] * 50
    assert not significantly_better({"c": challenger, "i": incumbent}, "c", "i")


@pytest.mark.parametrize(
    ("challenger", "incumbent"),
    [
        ([], []),
        ([1.0], [0.0]),
        ([1.0, None, 1.0], [0.0, 0.0, None]),
        ([None, None], [0.0, 0.0]),
    ],
)
def test_fewer_than_two_pairs_is_never_significant(challenger, incumbent):
    assert not significantly_better({"c": challenger, "i": incumbent}, "c", "i")


def test_two_consistent_pairs_can_be_significant():
    assert significantly_better({"c": [1.0, 0.6], "i": [0.5, 0.1]}, "c", "i")


def test_significance_is_deterministic_for_a_seed():
    rng = random.Random(14)
    a = noisy(100, seed=15)
    b = [v + rng.gauss(0.02, 0.1) for v in a]
    scores = {"a": a, "b": b}
    results = {significantly_better(scores, "b", "a", seed=s) for s in (3, 3, 3)}
    assert len(results) == 1


def test_significance_bad_input():
    with pytest.raises(KeyError):
        significantly_better({"a": [1.0, 0.0]}, "a", "missing")
    with pytest.raises(ValueError, match="entries"):
        significantly_better({"a": [1.0, 0.0], "b": [1.0]}, "a", "b")
    with pytest.raises(ValueError, match="finite"):
        significantly_better({"a": [1.0, math.nan], "b": [1.0, 0.0]}, "a", "b")
