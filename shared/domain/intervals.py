"""Confidence intervals for a model's mean score, chosen by what the scores are.

Scores live on a 0-1 scale (exact match is 0/1; judge and human scores are 0-10 divided by 10).

- **0/1 scores: Wilson score interval with continuity correction.** The percentile bootstrap
  (and the normal "Wald" interval) under-covers near 0 and 1 at small n: at n=30, p=0.05 it
  covered 0.80, and with no right answer it gave the zero-width ``[0, 0]``. The corrected
  Wilson interval covers at least 0.95 at every p in [0.01, 0.99] from n=30
  (``benchmarks/bench_validity.py`` prints the exact coverage), and its upper end at zero
  successes is above 0.
- **Continuous scores: Student t-interval**, clipped to [0, 1]. When the scores have no spread
  (a constant, or a single sample) the t-interval would be zero-width, so the interval is then
  Wilson's at the observed mean: a 0-1 score's variance is at most ``mean·(1-mean)``, so that is
  the widest the data allow, and it is never a point from a finite sample.

Every interval says which method made it (``ci_method``), so a reader knows what it means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from scipy import special

WILSON = "wilson"
T_INTERVAL = "t"
WILSON_BOUND = "wilson_bound"  # continuous scores without spread: Wilson at the mean


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval with continuity correction (Newcombe 1998, method 4) for the
    proportion ``successes / n`` (``successes`` may be a fractional total of 0-1 scores).

    The correction is what keeps the *worst* coverage over p above 95%: plain Wilson's averages
    95% but dips to 0.90 at some p for n=30-50 and stays below 0.94 up to n≈1000, and Jeffreys'
    dips lower still; the corrected interval is at most 0.03 wider at n=30 and 0.001 at n=1000.
    Raises ``ValueError`` for ``n < 1`` or a total outside ``[0, n]``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    z2 = _z(confidence) ** 2
    p = successes / n
    root = math.sqrt
    denominator = 2 * (n + z2)
    low = (
        2 * successes
        + z2
        - 1
        - root(z2) * root(max(0.0, z2 - 2 - 1 / n + 4 * p * (n * (1 - p) + 1)))
    ) / denominator
    high = (
        2 * successes
        + z2
        + 1
        + root(z2) * root(max(0.0, z2 + 2 - 1 / n + 4 * p * (n * (1 - p) - 1)))
    ) / denominator
    # The exact ends at 0 and n successes: nothing below 0 or above 1 can be ruled in.
    return (0.0 if successes == 0 else max(0.0, low)), (1.0 if successes == n else min(1.0, high))


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``df`` degrees of freedom."""
    # scipy.special's ufunc: the same quantile as stats.t.ppf at a fraction of the call cost.
    return float(special.stdtrit(df, 1 - (1 - confidence) / 2))


def is_binary(values: Sequence[float] | np.ndarray) -> bool:
    arr = np.asarray(values, dtype=float)
    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, str]:
    """``(low, high, method)`` for the mean of ``values`` (0-1 scores, at least one)."""
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    total = float(arr.sum())
    if is_binary(arr):
        return (*wilson_interval(total, n, confidence), WILSON)
    mean = total / n
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    if std == 0.0:
        clipped = min(max(total, 0.0), float(n))
        return (*wilson_interval(clipped, n, confidence), WILSON_BOUND)
    half = t_quantile(confidence, n - 1) * std / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half), T_INTERVAL
