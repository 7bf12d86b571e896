"""Wall-clock time of the per-model intervals and the paired-Holm ranks.

    python -m benchmarks.bench_statistics

The finalize task ranks a run inside one Cloud Run request, so ``summarize`` must stay well under
a few seconds for realistic sizes. Data are synthetic: 0/1 exact-match scores and 0-1 judge
scores with a few unscored (None) samples. Ranks run a paired test on every pair of models, so
the cost grows with models squared times samples.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from shared.domain.statistics import significantly_better, summarize

SIZES = [  # (models, samples)
    (3, 500),
    (5, 1000),
    (5, 5000),
    (10, 5000),
    (25, 50_000),  # issue 13's largest run: finalize's whole budget is 10 s and 512 MB
]
GOAL_SECONDS = 10.0
GOAL_MIB = 512.0
REPEATS = 3


def make_scores(
    models: int, samples: int, *, missing: float, seed: int = 1
) -> dict[str, list[float | None]]:
    rng = random.Random(seed)
    scores: dict[str, list[float | None]] = {}
    for m in range(models):
        skill = 0.5 + 0.03 * m
        if m % 2 == 0:  # exact match
            column: list[float] = [1.0 if rng.random() < skill else 0.0 for _ in range(samples)]
        else:  # judged, on the 0-10 scale normalised to 0-1
            column = [min(10, max(0, round(rng.gauss(10 * skill, 2)))) / 10 for _ in range(samples)]
        scores[f"family{m}/model"] = [None if rng.random() < missing else v for v in column]
    return scores


def best_of(fn: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return min(timings)


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak memory ``fn`` allocates (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    print(f"best of {REPEATS} runs, one core; goal for the whole finalize: "
          f"< {GOAL_SECONDS:g} s and < {GOAL_MIB:g} MiB at 25 x 50,000")  # fmt: skip
    print(f"{'models':>6} {'samples':>7} {'missing':>7} {'summarize':>10} {'peak':>9}")
    for models, samples in SIZES:
        for missing in (0.0, 0.02):
            scores = make_scores(models, samples, missing=missing)
            seconds = best_of(partial(summarize, scores))
            mib = peak_mib(partial(summarize, scores))
            print(f"{models:>6} {samples:>7} {missing:>7.0%} {seconds:>9.3f}s {mib:>6.1f}MiB")

    print()
    print(f"{'samples':>7} {'significantly_better':>20}")
    for samples in (1000, 5000):
        scores = make_scores(2, samples, missing=0.02)
        a, b = list(scores)
        seconds = best_of(partial(significantly_better, scores, b, a))
        print(f"{samples:>7} {seconds:>19.3f}s")


if __name__ == "__main__":
    main()
