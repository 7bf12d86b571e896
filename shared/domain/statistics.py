"""Per-model scores with honest error bars, paired comparisons, and the ranks they allow.

Input everywhere is ``scores: Mapping[model_id, Sequence[float | None]]``: one entry per
dataset sample, in the same sample order for every model; ``None`` marks a sample the model
was not scored on (an error, an unparseable judge verdict).

Two means per model, both reported: ``score`` over the scored samples (what the model does when
it answers) and ``score_all`` over every sample with ``None`` counted as wrong (0). Comparisons
between models, and therefore ranks and promotion, use the second: a model that errors on the
items it would have got wrong must not look better than one that answers them.

Intervals come from :mod:`shared.domain.intervals` (Wilson for 0/1 scores, a t-interval for
continuous ones). Comparisons are *paired*: every model answered the same samples, so the
per-sample difference cancels out how hard each sample is. The test is a one-sided paired
t-test on those differences (for 0/1 scores at the sizes Podium runs, within a hair of exact
McNemar, and it needs no resampling).

Ranks follow the same comparisons: a model's rank is 1 + the number of models that beat it in a
paired test, with Holm's correction over every pair of models at a 5% family-wise level. The
old rule (non-overlapping intervals) missed most real differences that the paired test finds,
so the board showed a tie while promotion declared a winner; now both read the same evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
from scipy import special

from shared.domain.intervals import mean_interval

RANK_RULE = "paired_holm"  # named on every results row
FAMILY_ALPHA = 0.05  # two-sided, family-wise, for ranks


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    score: float | None  # mean over scored samples; None when the model has none
    score_std: float | None  # sample standard deviation (ddof=1); 0.0 for n == 1
    n: int  # scored samples
    ci_low: float | None  # interval of ``score``
    ci_high: float | None
    rank: int
    score_all: float | None = None  # mean over every sample, unscored counted as 0
    n_all: int = 0  # every sample
    ci_low_all: float | None = None
    ci_high_all: float | None = None
    ci_method: str | None = None  # how ci_low/ci_high were made (intervals.py)


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The ``q``-th percentile (0..100), numpy's linear interpolation between the closest
    ranks; ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return None
    if np.isnan(arr).any():
        raise ValueError("percentile of NaN is undefined")
    return float(np.percentile(arr, q))


@dataclass(frozen=True)
class PairedStats:
    """Sufficient statistics of per-sample differences (challenger - incumbent): enough to pool
    runs without keeping their samples."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def __add__(self, other: PairedStats) -> PairedStats:
        return PairedStats(
            self.n + other.n, self.total + other.total, self.total_sq + other.total_sq
        )

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None
        mean = self.total / self.n
        return math.sqrt(max(0.0, (self.total_sq - self.n * mean * mean) / (self.n - 1)))

    def p_value(self) -> float:
        """One-sided paired t-test p-value for "the challenger is better" (mean > 0); 1.0 with
        fewer than two pairs. Differences without spread decide by their sign."""
        std = self.std
        if std is None:
            return 1.0
        mean = self.total / self.n
        # Relative tolerance: float sums of identical differences leave ~1e-16 of spread.
        if std <= 1e-12 * max(1.0, abs(mean)):
            return 0.0 if mean > 0 else 1.0
        t = mean / (std / math.sqrt(self.n))
        return float(special.stdtr(self.n - 1, -t))  # Student t survival function

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Two-sided t-interval of the mean difference; None with fewer than two pairs."""
        std = self.std
        if std is None:
            return None
        mean = self.total / self.n
        half = (
            float(special.stdtrit(self.n - 1, 1 - (1 - confidence) / 2)) * std / math.sqrt(self.n)
        )
        return mean - half, mean + half


def counted_wrong(entries: Sequence[float | None]) -> list[float]:
    """Scores with unscored samples counted as wrong (0.0)."""
    return [0.0 if e is None else float(e) for e in entries]


def as_array(entries: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """Scores as floats, ``None`` (unscored) as NaN."""
    if isinstance(entries, np.ndarray):
        return entries.astype(float, copy=False)
    return np.array([np.nan if e is None else e for e in entries], dtype=float)


def _stats_of(diffs: np.ndarray) -> PairedStats:
    return PairedStats(int(diffs.size), float(diffs.sum()), float(np.dot(diffs, diffs)))


def paired_stats(
    challenger: Sequence[float | None] | np.ndarray,
    incumbent: Sequence[float | None] | np.ndarray,
    include: Sequence[bool] | None = None,
) -> PairedStats:
    """Differences over every sample (unscored counted as wrong), or over those ``include``
    marks (the caller leaves out samples whose answers add no evidence, e.g. cached ones)."""
    a, b = as_array(challenger), as_array(incumbent)
    if a.size != b.size:
        raise ValueError(f"{a.size} challenger entries but {b.size} incumbent")
    diffs = np.nan_to_num(a, nan=0.0) - np.nan_to_num(b, nan=0.0)
    if include is not None:
        diffs = diffs[np.asarray(include, dtype=bool)]
    return _stats_of(diffs)


def holm(p_values: Mapping[str, float], alpha: float) -> dict[str, bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha``.
    The k-th smallest p-value (k from 0) is compared with ``alpha / (m - k)``; the first that
    fails stops the procedure."""
    ordered = sorted(p_values, key=lambda key: (p_values[key], key))
    m = len(ordered)
    rejected = dict.fromkeys(ordered, False)
    for k, key in enumerate(ordered):
        if p_values[key] > alpha / (m - k):
            break
        rejected[key] = True
    return rejected


def holm_threshold(rank: int, m: int, alpha: float) -> float:
    """The level Holm compares the ``rank``-th smallest (from 0) of ``m`` p-values with."""
    return alpha / (m - rank)


def _check(scores: Mapping[str, Sequence[float | None]], confidence: float) -> np.ndarray:
    """The scores as a (models x samples) matrix, NaN for unscored; raises ValueError for
    mismatched lengths, non-finite scores or an out-of-range confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    lengths = {len(entries) for entries in scores.values()}
    if len(lengths) > 1:
        raise ValueError(f"every model needs one entry per sample; got lengths {sorted(lengths)}")
    rows = [as_array(entries) for entries in scores.values()]
    for model_id, row in zip(scores, rows, strict=True):
        bad = np.isinf(row) | (np.isnan(row) & ~_unscored(scores[model_id], row))
        if bad.any():
            position = int(np.argmax(bad))
            raise ValueError(
                f"{model_id}: sample {position} is {row[position]}, not a finite score"
            )
    n = lengths.pop() if lengths else 0
    return np.vstack(rows) if rows else np.zeros((0, n))


def _unscored(entries: Sequence[float | None] | np.ndarray, row: np.ndarray) -> np.ndarray:
    """Where ``entries`` held None (a NaN given as a score is an error, not unscored)."""
    if isinstance(entries, np.ndarray):
        nan: np.ndarray = np.isnan(row)
        return nan
    mask: np.ndarray = np.fromiter((e is None for e in entries), dtype=bool, count=len(entries))
    return mask


def _summary(model_id: str, row: np.ndarray, confidence: float) -> ModelSummary:
    scored = row[~np.isnan(row)]
    n = int(scored.size)
    n_all = int(row.size)
    everything = np.nan_to_num(row, nan=0.0)
    score_all = float(everything.mean()) if n_all else None
    low_all, high_all, _ = mean_interval(everything, confidence) if n_all else (None, None, None)
    if n == 0:
        return ModelSummary(
            model_id, None, None, 0, None, None, 0, score_all, n_all, low_all, high_all, None
        )
    mean = float(scored.mean())
    std = float(scored.std(ddof=1)) if n > 1 else 0.0
    low, high, method = mean_interval(scored, confidence)
    return ModelSummary(
        model_id, mean, std, n, low, high, 0, score_all, n_all, low_all, high_all, method
    )


def paired_ranks(
    scores: Mapping[str, Sequence[float | None]],
    *,
    alpha: float = FAMILY_ALPHA,
    matrix: np.ndarray | None = None,
) -> dict[str, int]:
    """Rank = 1 + the number of models that beat this one: a pair is decided by a two-sided
    paired t-test (unscored counted as wrong), with Holm's correction over all pairs at
    ``alpha``. Models never scored share the last rank, 1 + the number of scored models.

    Vectorised: every pair's differences are one numpy subtraction over the samples."""
    ids = list(scores)
    grid = matrix if matrix is not None else np.vstack([as_array(scores[m]) for m in ids])
    row_of = {m: i for i, m in enumerate(ids)}
    ranked = [m for m in ids if not np.isnan(grid[row_of[m]]).all()]
    wrong = np.nan_to_num(grid, nan=0.0)
    p_values: dict[str, float] = {}
    winners: dict[str, tuple[str, str]] = {}
    for a, b in combinations(sorted(ranked), 2):
        forward = _stats_of(wrong[row_of[a]] - wrong[row_of[b]])
        backward = PairedStats(forward.n, -forward.total, forward.total_sq)
        key = f"{a}\x00{b}"
        p_values[key] = min(1.0, 2 * min(forward.p_value(), backward.p_value()))
        mean = forward.mean or 0.0
        winners[key] = (a, b) if mean > 0 else (b, a)
    beaten_by = dict.fromkeys(ranked, 0)
    for key, rejected in holm(p_values, alpha).items():
        if rejected:
            beaten_by[winners[key][1]] += 1
    last = len(ranked) + 1
    return {m: 1 + beaten_by[m] if m in beaten_by else last for m in scores}


def summarize(
    scores: Mapping[str, Sequence[float | None]], *, confidence: float = 0.95
) -> list[ModelSummary]:
    """Scores, intervals and paired-Holm ranks of every model, ordered by rank, then
    ``score_all`` descending, then model id. Raises ``ValueError`` when the sequences differ in
    length, a score is not finite, or ``confidence`` is out of range."""
    grid = _check(scores, confidence)
    ranks = paired_ranks(scores, matrix=grid)
    summaries = [
        replace(_summary(model_id, grid[i], confidence), rank=ranks[model_id])
        for i, model_id in enumerate(scores)
    ]
    summaries.sort(
        key=lambda s: (s.rank, -(s.score_all if s.score_all is not None else -1.0), s.model_id)
    )
    return summaries


def significantly_better(
    scores: Mapping[str, Sequence[float | None]],
    challenger: str,
    incumbent: str,
    *,
    confidence: float = 0.95,
) -> bool:
    """Whether ``challenger`` beats ``incumbent`` in a one-sided paired t-test at
    ``(1 - confidence) / 2``, over every sample with unscored ones counted as wrong; a single
    comparison, uncorrected (promotion uses :mod:`shared.domain.promotion`). Fewer than two
    samples is never significant. Raises ``KeyError`` for an unknown model and ``ValueError``
    for mismatched lengths, non-finite scores or out-of-range settings."""
    _check({challenger: scores[challenger], incumbent: scores[incumbent]}, confidence)
    return paired_stats(scores[challenger], scores[incumbent]).p_value() < (1 - confidence) / 2
