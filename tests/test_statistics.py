"""Percentiles, intervals by metric, paired-Holm ranks and the paired test."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

import pytest

from shared.domain.intervals import mean_interval, wilson_interval
from shared.domain.statistics import (
    ModelSummary,
    PairedStats,
    holm,
    paired_ranks,
    paired_stats,
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


def test_single_scored_sample_gets_a_wide_interval_not_a_point():
    summaries = by_id(summarize({"one": [None, 0.8, None], "full": [0.2, 0.4, 0.6]}))
    one = summaries["one"]
    assert (one.n, one.score, one.score_std) == (1, 0.8, 0.0)
    low, high = bounds(one)
    assert low < 0.8 < high and high - low > 0.5
    assert one.ci_method == "wilson_bound"


def test_never_scored_model_ranks_last_and_counts_as_wrong_over_all_samples():
    summaries = by_id(summarize({"ok": [1.0, 0.0, 1.0], "down": [None, None, None]}))
    down = summaries["down"]
    assert (down.score, down.n, down.ci_low, down.rank) == (None, 0, None, 2)
    assert (down.score_all, down.n_all, down.ci_low_all) == (0.0, 3, 0.0)
    assert down.ci_high_all is not None and down.ci_high_all > 0


def test_empty_inputs():
    assert summarize({}) == []
    summaries = summarize({"b": [], "a": []})
    assert [(s.model_id, s.n, s.score, s.rank) for s in summaries] == [
        ("a", 0, None, 1),
        ("b", 0, None, 1),
    ]


def test_score_all_counts_unscored_as_wrong():
    (summary,) = summarize({"m": [1.0, None, 0.0, 1.0, None]})
    assert summary.score == pytest.approx(2 / 3)
    assert summary.score_all == pytest.approx(2 / 5)
    assert summary.n_all == 5


# --------------------------------------------------------------------------------------------
# intervals: known values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
    # method 4 (score interval with continuity correction).
    [
        (81, 263, 0.2535, 0.3682),
        (15, 148, 0.0598, 0.1644),
        (0, 20, 0.0, 0.2005),
        (1, 29, 0.0018, 0.1963),
        (0, 10, 0.0, 0.3445),
    ],
)
def test_wilson_endpoints_match_published_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_zero_successes_is_never_a_zero_width_interval():
    low, high, method = mean_interval([0.0] * 30)
    assert (low, method) == (0.0, "wilson")
    assert 0.1 < high < 0.15
    low, high, _ = mean_interval([1.0] * 30)
    assert high == 1.0 and 0.85 < low < 0.9


def test_wilson_is_symmetric():
    low, high = wilson_interval(7, 40)
    mirrored = wilson_interval(33, 40)
    assert mirrored == (pytest.approx(1 - high), pytest.approx(1 - low))


@pytest.mark.parametrize(("successes", "n"), [(1, 0), (-1, 5), (6, 5)])
def test_wilson_rejects_impossible_counts(successes, n):
    with pytest.raises(ValueError, match="must be"):
        wilson_interval(successes, n)


def test_continuous_scores_get_a_t_interval():
    values = [0.2, 0.5, 0.7, 0.9, 0.4, 0.6]
    low, high, method = mean_interval(values)
    mean = statistics.fmean(values)
    half = 2.5706 * statistics.stdev(values) / math.sqrt(len(values))  # t(0.975, 5)
    assert method == "t"
    assert (low, high) == (
        pytest.approx(mean - half, abs=1e-4),
        pytest.approx(mean + half, abs=1e-4),
    )


def test_constant_continuous_scores_are_not_a_point():
    low, high, method = mean_interval([0.5] * 30)
    assert method == "wilson_bound"
    assert low < 0.5 < high


def test_summary_names_its_method():
    summaries = by_id(summarize({"exact": binary(20, 30), "judge": [0.3, 0.8, 0.6] * 10}))
    assert summaries["exact"].ci_method == "wilson"
    assert summaries["judge"].ci_method == "t"


# --------------------------------------------------------------------------------------------
# Holm and paired tests
# --------------------------------------------------------------------------------------------


def test_holm_worked_example():
    # p sorted: 0.01 <= 0.05/4, 0.015 <= 0.05/3, 0.03 > 0.05/2 stops; 0.04 is not tested.
    rejected = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.015}, 0.05)
    assert rejected == {"a": True, "b": False, "c": False, "d": True}


def test_holm_rejects_nothing_when_the_smallest_fails():
    assert holm({"a": 0.03, "b": 0.04}, 0.05) == {"a": False, "b": False}
    assert holm({}, 0.05) == {}


def test_paired_stats_count_unscored_as_wrong_and_respect_include():
    stats = paired_stats([1.0, None, 1.0, 0.0], [0.0, 1.0, None, 0.0])
    assert (stats.n, stats.total, stats.total_sq) == (4, 1.0, 3.0)
    fresh_only = paired_stats(
        [1.0, None, 1.0, 0.0], [0.0, 1.0, None, 0.0], [True, False, True, False]
    )
    assert (fresh_only.n, fresh_only.total) == (2, 2.0)


def test_paired_p_value_matches_a_t_test():
    a = [0.9, 0.7, 0.8, 0.6, 0.95, 0.85]
    b = [0.8, 0.72, 0.6, 0.55, 0.9, 0.7]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    t = statistics.fmean(diffs) / (statistics.stdev(diffs) / math.sqrt(len(diffs)))
    stats = paired_stats(a, b)
    assert t == pytest.approx(2.8, abs=0.1)
    assert stats.p_value() == pytest.approx(0.019, abs=0.002)  # one-sided, 5 df


def test_pooling_adds_sufficient_statistics():
    one, two = paired_stats([1.0, 0.0], [0.0, 0.0]), paired_stats([1.0, 1.0, 0.0], [0.0, 1.0, 1.0])
    pooled = one + two
    assert pooled == paired_stats([1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0])
    assert PairedStats().mean is None and PairedStats().p_value() == 1.0


def test_identical_models_are_not_significantly_different():
    column = noisy(200, 1)
    assert not significantly_better({"a": column, "b": list(column)}, "a", "b")


def test_consistent_differences_without_spread_decide_by_sign():
    assert significantly_better({"a": [1.0] * 5, "b": [0.0] * 5}, "a", "b")
    assert not significantly_better({"a": [0.0] * 5, "b": [1.0] * 5}, "a", "b")


def test_erroring_on_hard_items_does_not_make_a_model_better():
    # Equal models; "b" errors exactly where it would have been wrong. Over scored samples it
    # would look much better; counted wrong, it is the same model.
    a = binary(70, 100)
    b: list[float | None] = [1.0] * 70 + [None] * 30
    assert summarize({"b": b})[0].score == 1.0
    assert not significantly_better({"a": a, "b": b}, "b", "a")


def test_fewer_than_two_pairs_is_never_significant():
    assert not significantly_better({"a": [1.0], "b": [0.0]}, "a", "b")
    assert not significantly_better({"a": [], "b": []}, "a", "b")


def test_significance_bad_input():
    with pytest.raises(KeyError):
        significantly_better({"a": [1.0]}, "a", "zzz")
    with pytest.raises(ValueError, match="lengths"):
        significantly_better({"a": [1.0, 0.0], "b": [1.0]}, "a", "b")
    with pytest.raises(ValueError, match="confidence"):
        significantly_better({"a": [1.0], "b": [0.0]}, "a", "b", confidence=1.0)


# --------------------------------------------------------------------------------------------
# ranks
# --------------------------------------------------------------------------------------------


def test_identical_models_share_rank_one():
    column = binary(20, 40)
    assert {s.rank for s in summarize({"a": column, "b": list(column), "c": list(column)})} == {1}


def test_clearly_separated_models_rank_in_order():
    summaries = summarize({"low": binary(5, 60), "mid": binary(30, 60), "high": binary(58, 60)})
    assert [(s.model_id, s.rank) for s in summaries] == [("high", 1), ("mid", 2), ("low", 3)]


def test_a_consistent_paired_edge_separates_ranks_that_intervals_would_tie():
    # b is a with 6 more right answers: intervals overlap, but pairing shows a consistent edge.
    a = binary(40, 80)
    b = binary(46, 80)
    summaries = by_id(summarize({"a": a, "b": b}))
    assert summaries["a"].ci_high > summaries["b"].ci_low  # type: ignore[operator]
    assert (summaries["b"].rank, summaries["a"].rank) == (1, 2)


def test_ranks_are_corrected_for_the_number_of_pairs():
    # b beats a on 6 of 200 samples (two-sided p ~ 0.014): enough for one pair, not among 10
    # pairs, where Holm's first level is 0.005.
    base = binary(100, 200)
    better = binary(106, 200)
    assert paired_ranks({"a": base, "b": better}) == {"a": 2, "b": 1}
    crowd = paired_ranks({"a": base, "b": better, **{f"x{i}": list(base) for i in range(3)}})
    assert set(crowd.values()) == {1}


def test_unscored_models_rank_last_together():
    summaries = by_id(summarize({"a": [1.0, 0.0], "x": [None, None], "y": [None, None]}))
    assert (summaries["a"].rank, summaries["x"].rank, summaries["y"].rank) == (1, 2, 2)


def test_input_order_does_not_change_results():
    scores = {"a": binary(10, 40), "b": noisy(40, 2), "c": binary(30, 40)}
    reversed_scores = dict(reversed(scores.items()))
    assert summarize(scores) == summarize(reversed_scores)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def test_sequences_must_have_one_entry_per_sample():
    with pytest.raises(ValueError, match="one entry per sample"):
        summarize({"a": [1.0, 0.0], "b": [1.0]})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_scores_must_be_finite(bad):
    with pytest.raises(ValueError, match="not a finite score"):
        summarize({"a": [1.0, bad]})


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 2.0])
def test_confidence_is_checked(confidence):
    with pytest.raises(ValueError, match="confidence"):
        summarize({"a": [1.0]}, confidence=confidence)
