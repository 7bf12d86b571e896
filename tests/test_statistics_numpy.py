"""The numpy statistics against the pure-Python code they replaced (kept here as the
reference), on fixed data: the same means, spreads, intervals, p-values and ranks."""

from __future__ import annotations

import math
import random
from itertools import combinations

import pytest

from shared.domain.intervals import wilson_interval
from shared.domain.statistics import PairedStats, paired_stats, percentile, summarize


def reference_mean_interval(values: list[float]) -> tuple[float, float, str]:
    n = len(values)
    total = math.fsum(values)
    if all(v in (0.0, 1.0) for v in values):
        return (*wilson_interval(total, n), "wilson")
    mean = total / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if std == 0.0:
        return (*wilson_interval(min(max(total, 0.0), float(n)), n), "wilson_bound")
    from scipy import special

    half = float(special.stdtrit(n - 1, 0.975)) * std / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half), "t"


def reference_paired(a: list[float | None], b: list[float | None]) -> PairedStats:
    diffs = [(x or 0.0) - (y or 0.0) for x, y in zip(a, b, strict=True)]
    return PairedStats(len(diffs), math.fsum(diffs), math.fsum(d * d for d in diffs))


def fixed_scores(models: int, samples: int) -> dict[str, list[float | None]]:
    rng = random.Random(20261124)
    out: dict[str, list[float | None]] = {}
    for m in range(models):
        skill = 0.45 + 0.05 * m
        if m % 2:
            col = [min(10, max(0, round(rng.gauss(10 * skill, 2)))) / 10 for _ in range(samples)]
        else:
            col = [1.0 if rng.random() < skill else 0.0 for _ in range(samples)]
        out[f"m{m}"] = [None if rng.random() < 0.03 else v for v in col]
    return out


def test_summaries_match_the_replaced_code():
    scores = fixed_scores(6, 400)
    got = {s.model_id: s for s in summarize(scores)}
    for model_id, entries in scores.items():
        scored = [float(e) for e in entries if e is not None]
        everything = [0.0 if e is None else float(e) for e in entries]
        s = got[model_id]
        assert s.n == len(scored) and s.n_all == len(entries)
        assert s.score == pytest.approx(math.fsum(scored) / len(scored), abs=1e-12)
        mean = math.fsum(scored) / len(scored)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in scored) / (len(scored) - 1))
        assert s.score_std == pytest.approx(std, abs=1e-12)
        low, high, method = reference_mean_interval(scored)
        assert (s.ci_low, s.ci_high, s.ci_method) == (
            pytest.approx(low, abs=1e-12),
            pytest.approx(high, abs=1e-12),
            method,
        )
        low_all, high_all, _ = reference_mean_interval(everything)
        assert s.ci_low_all == pytest.approx(low_all, abs=1e-12)
        assert s.ci_high_all == pytest.approx(high_all, abs=1e-12)


def test_paired_statistics_match_the_replaced_code():
    scores = fixed_scores(5, 300)
    for a, b in combinations(scores, 2):
        new, old = paired_stats(scores[a], scores[b]), reference_paired(scores[a], scores[b])
        assert new.n == old.n
        assert new.total == pytest.approx(old.total, abs=1e-9)
        assert new.total_sq == pytest.approx(old.total_sq, abs=1e-9)
        assert new.p_value() == pytest.approx(old.p_value(), abs=1e-12)


def test_percentile_is_numpys_linear_rule():
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    ordered = sorted(values)
    for q in (0, 10, 25, 50, 90, 99, 100):
        pos = (len(ordered) - 1) * q / 100
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        expected = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        assert percentile(values, q) == pytest.approx(expected)
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="NaN"):
        percentile([1.0, float("nan")], 50)
