"""Per-model scores with honest error bars, and the ranks they allow.

Input everywhere is ``scores: Mapping[model_id, Sequence[float | None]]``: one entry per
dataset sample, in the same sample order for every model; ``None`` marks a sample the model
was not scored on (an error, an unparseable judge verdict). ``None`` is left out of a model's
mean rather than counted as wrong.

Uncertainty comes from a percentile bootstrap over samples. It is *paired*: each bootstrap
iteration draws one set of sample indices and applies it to every model, because every model
answered the same samples. A model's own interval is distributed exactly as an unpaired
bootstrap's would be (identical models do get identical intervals); the pairing pays off in
comparisons (:func:`significantly_better`), where the difference between two models on the same
sample cancels out how hard that sample is.

Pure Python on purpose (no numpy in the deploy bundle). ``python -m benchmarks.bench_statistics``
measures it: 5 models x 5,000 samples x 2,000 resamples takes about 1 s on one core (1.7 s when
every model has a few unscored samples, which costs one more gather per resample).
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    score: float | None  # mean over scored samples; None when the model has none
    score_std: float | None  # sample standard deviation (ddof=1); 0.0 for n == 1
    n: int  # scored samples
    ci_low: float | None
    ci_high: float | None
    rank: int


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest ranks,
    as numpy's default method; ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if any(math.isnan(v) for v in values):
        raise ValueError("percentile of NaN is undefined")
    if not values:
        return None
    return _sorted_percentile(sorted(values), q)


def _sorted_percentile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    fraction = position - low
    if fraction == 0:
        return float(ordered[low])
    a, b = ordered[low], ordered[low + 1]
    # numpy's two-sided lerp: exact at both ends and monotonic in q, so a constant sample gives
    # back exactly that constant.
    return a + (b - a) * fraction if fraction < 0.5 else b - (b - a) * (1 - fraction)


@dataclass(frozen=True)
class _Column:
    """One model's scores, prepared once so that each bootstrap iteration only gathers and sums."""

    values: list[float]  # None replaced by 0.0, so gathered values can be summed blindly
    mask: list[int]  # 1 where scored, 0 where not
    scored: list[float]

    @property
    def n(self) -> int:
        return len(self.scored)

    @property
    def complete(self) -> bool:
        return len(self.scored) == len(self.values)


def _column(model_id: str, entries: Sequence[float | None]) -> _Column:
    values: list[float] = []
    mask: list[int] = []
    for position, entry in enumerate(entries):
        if entry is None:
            values.append(0.0)
            mask.append(0)
        elif math.isfinite(entry):
            values.append(float(entry))
            mask.append(1)
        else:
            raise ValueError(f"{model_id}: sample {position} is {entry}, not a finite score")
    scored = [v for v, m in zip(values, mask, strict=True) if m]
    return _Column(values=values, mask=mask, scored=scored)


def _check_settings(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")


def _resample_indices(rng: random.Random, n: int) -> list[int]:
    """``n`` indices drawn uniformly with replacement from ``range(n)``.

    One ``getrandbits`` call decoded by ``array`` is about 1.6x faster than ``rng.choices``,
    and the draws are where the bootstrap spends half its time. With 64-bit words the modulo
    bias is below n / 2**64: invisible. The byte order is fixed so a seed gives the same
    indices on every machine.
    """
    words = array("Q", rng.getrandbits(64 * n).to_bytes(8 * n, "little"))
    if sys.byteorder == "big":
        words.byteswap()
    return list(map(n.__rmod__, words))


def _gatherer(indices: list[int]) -> Callable[[Sequence[float]], Sequence[float]]:
    # itemgetter gathers in C, several times faster than a comprehension; with a single index it
    # returns the bare item instead of a tuple, hence the special case.
    if len(indices) == 1:
        only = indices[0]
        return lambda seq: (seq[only],)
    return itemgetter(*indices)


def _interval(means: list[float], confidence: float) -> tuple[float, float]:
    means.sort()
    tail = 100 * (1 - confidence) / 2
    return _sorted_percentile(means, tail), _sorted_percentile(means, 100 - tail)


def _bootstrap_means(
    columns: Mapping[str, _Column], length: int, resamples: int, seed: int
) -> dict[str, list[float]]:
    """For each model, its mean over every paired resample in which it has a scored sample."""
    # Models with the same missing samples share one count per iteration; most models have none
    # missing and divide by ``length``.
    mask_slot: dict[tuple[int, ...], int] = {}
    masks: list[list[int]] = []
    plan: list[tuple[list[float], int | None, list[float]]] = []
    means: dict[str, list[float]] = {}
    for model_id, column in columns.items():
        slot = None
        if not column.complete:
            slot = mask_slot.setdefault(tuple(column.mask), len(masks))
            if slot == len(masks):
                masks.append(column.mask)
        means[model_id] = []
        plan.append((column.values, slot, means[model_id]))

    rng = random.Random(seed)
    for _ in range(resamples):
        take = _gatherer(_resample_indices(rng, length))
        counts = [sum(take(mask)) for mask in masks]
        for values, slot, out in plan:
            count = length if slot is None else counts[slot]
            # A resample that drew none of the model's scored samples says nothing about it.
            if count:
                out.append(sum(take(values)) / count)
    return means


def _summary(
    model_id: str, column: _Column, boot: list[float], observed: list[float], confidence: float
) -> ModelSummary:
    """Everything but the rank, which needs every model's interval."""
    n = column.n
    if n == 0:
        return ModelSummary(model_id, None, None, 0, None, None, rank=0)
    mean = math.fsum(column.scored) / n
    if n == 1:
        return ModelSummary(model_id, mean, 0.0, 1, min(observed), max(observed), rank=0)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in column.scored) / (n - 1))
    low, high = _interval(boot, confidence) if boot else (min(column.scored), max(column.scored))
    return ModelSummary(model_id, mean, std, n, low, high, rank=0)


def _rank(summary: ModelSummary, lows: list[float]) -> int:
    if summary.ci_high is None:
        return len(lows) + 1  # never scored: behind every scored model
    return 1 + sum(1 for low in lows if low > summary.ci_high)


def summarize(
    scores: Mapping[str, Sequence[float | None]],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[ModelSummary]:
    """Mean, spread, paired-bootstrap confidence interval and rank of every model.

    Ranks are competition style over interval overlap, as Chatbot Arena ranks: a model's rank is
    1 + the number of models whose interval lies entirely above its own (their ``ci_low`` is
    strictly greater than its ``ci_high``). Models that cannot be told apart therefore share a
    rank, and the ranks need not be consecutive (1, 1, 3). A model with a wide interval can
    share rank 1 while a model with a higher mean but a tight interval does not; that is the
    honest reading: the first could still be the best, the second demonstrably is not.
    Models never scored (n == 0) have no score and no interval, and all share the last rank,
    1 + the number of scored models.

    The interval is the percentile bootstrap of the mean, deterministic for a given ``seed``.
    Two degenerate cases are handled explicitly rather than trusted to the bootstrap:

    - n == 1: every resample repeats the one value, so the bootstrap would claim zero
      uncertainty. Its interval is instead the whole range of scores observed across all
      models, which makes it tie with everything it could plausibly tie with.
    - a model whose scored samples were absent from every resample (only possible with a tiny
      ``resamples``): its interval is the range of its own scores.

    Returns the summaries ordered by rank, then score descending, then model id. Raises
    ``ValueError`` when the sequences differ in length, a score is not finite, or the settings
    are out of range.
    """
    _check_settings(confidence, resamples)
    lengths = {len(entries) for entries in scores.values()}
    if len(lengths) > 1:
        raise ValueError(f"every model needs one entry per sample; got lengths {sorted(lengths)}")
    length = lengths.pop() if lengths else 0
    columns = {model_id: _column(model_id, entries) for model_id, entries in scores.items()}

    resampled = {model_id: column for model_id, column in columns.items() if column.n >= 2}
    means = _bootstrap_means(resampled, length, resamples, seed) if resampled else {}
    observed = [v for column in columns.values() for v in column.scored]

    unranked = [
        _summary(model_id, column, means.get(model_id, []), observed, confidence)
        for model_id, column in columns.items()
    ]
    lows = [s.ci_low for s in unranked if s.ci_low is not None]
    summaries = [replace(s, rank=_rank(s, lows)) for s in unranked]
    summaries.sort(
        key=lambda s: (s.rank, -s.score if s.score is not None else math.inf, s.model_id)
    )
    return summaries


def significantly_better(
    scores: Mapping[str, Sequence[float | None]],
    challenger: str,
    incumbent: str,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> bool:
    """Whether ``challenger`` beats ``incumbent`` beyond noise.

    Paired bootstrap of the mean per-sample difference (challenger - incumbent) over the
    samples both were scored on; True only when the lower end of its two-sided ``confidence``
    interval is above zero (so a one-sided test at (1 - confidence) / 2). Pairing removes the
    sample-difficulty noise both models share, so a small but consistent edge is detected even
    when the two models' own intervals overlap. Fewer than two paired samples is never
    significant. Raises ``KeyError`` for an unknown model and ``ValueError`` for mismatched
    lengths, non-finite scores or out-of-range settings.
    """
    _check_settings(confidence, resamples)
    ours = _column(challenger, scores[challenger])
    theirs = _column(incumbent, scores[incumbent])
    if len(ours.values) != len(theirs.values):
        raise ValueError(
            f"{challenger} has {len(ours.values)} entries but {incumbent} {len(theirs.values)}"
        )
    diffs = [
        a - b
        for a, b, a_scored, b_scored in zip(
            ours.values, theirs.values, ours.mask, theirs.mask, strict=True
        )
        if a_scored and b_scored
    ]
    count = len(diffs)
    if count < 2:
        return False

    rng = random.Random(seed)
    means = [sum(_gatherer(_resample_indices(rng, count))(diffs)) / count for _ in range(resamples)]
    low, _high = _interval(means, confidence)
    return low > 0
