"""Do the intervals cover, does the chosen model hold on noise, and does a real edge get through?

    python -m benchmarks.bench_validity            # the goals, ~1-3 minutes on one core
    python -m benchmarks.bench_validity --quick    # fewer simulations, for a glance

Every figure is printed beside its goal (issue 8). The statistics under test are the product's
own functions, imported from ``shared.domain``: ``intervals.mean_interval`` for coverage and
``promotion.weigh`` (what ``ranking_winner`` runs in finalize) for promotion. numpy only draws
the simulated answers and sums each run's paired differences into the ``PairedStats`` the
product would compute from them.

- **Coverage** of the 95% interval for 0/1 scores is *exact*: for each n, the interval of every
  possible count k is computed once, and coverage at p is the binomial probability of the k
  whose interval holds p, on a grid of 981 values of p in [0.01, 0.99].
- **Flapping**: K equally good models (each sample right with probability 0.7, independently),
  model 0 chosen, 20 scheduled re-runs on fresh answers; how often the choice ever switches.
- **Power**: the incumbent at 0.70, one challenger at 0.75, n = 1,000 per run, alone (K = 2) and
  among three more models as good as the incumbent (K = 5); how often it is promoted within 3
  runs. Independent answers are the hard case: real models agree on easy samples, which makes
  paired differences less noisy, not more.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy import stats

from shared.domain.intervals import mean_interval
from shared.domain.promotion import PromotionSettings, weigh
from shared.domain.statistics import PairedStats

P_GRID = np.round(np.arange(0.01, 0.99 + 1e-9, 0.001), 3)
COVERAGE_NS = [30, 50, 100, 200, 500, 1000]


def exact_coverage(n: int) -> float:
    """The smallest coverage over the p grid of the product's interval for n 0/1 scores."""
    bounds = np.array([mean_interval([1.0] * k + [0.0] * (n - k))[:2] for k in range(n + 1)])
    holds = (bounds[:, :1] <= P_GRID) & (bounds[:, 1:] >= P_GRID)  # (k, p)
    pmf = stats.binom.pmf(np.arange(n + 1)[:, None], n, P_GRID)
    return float((pmf * holds).sum(axis=0).min())


def simulate(
    *,
    probabilities: list[float],
    n: int,
    runs: int,
    sims: int,
    seed: int,
    settings: PromotionSettings,
) -> tuple[float, float]:
    """Share of simulations where the choice (starting at model 0) ever switched within
    ``runs`` runs, and where it first switched to the best model within 3 runs."""
    rng = np.random.default_rng(seed)
    k = len(probabilities)
    p = np.asarray(probabilities)[None, :, None]
    chosen = np.zeros(sims, dtype=int)
    evidence: list[dict[str, Any] | None] = [None] * sims
    switched = np.zeros(sims, dtype=bool)
    best = int(np.argmax(probabilities))
    to_best_by_3 = np.zeros(sims, dtype=bool)
    ids = [f"m{i}" for i in range(k)]
    for run in range(1, runs + 1):
        answers = (rng.random((sims, k, n)) < p).astype(np.int32)
        diffs = answers - answers[np.arange(sims), chosen][:, None, :]
        all_totals = diffs.sum(axis=2)
        all_squares = (diffs * diffs).sum(axis=2)
        for sim in range(sims):
            incumbent = chosen[sim]
            totals, squares = all_totals[sim], all_squares[sim]
            fresh = {
                ids[j]: PairedStats(n, float(totals[j]), float(squares[j]))
                for j in range(k)
                if j != incumbent
            }
            decision = weigh(
                previous=ids[incumbent],
                run_stats=fresh,
                evidence=evidence[sim],
                settings=settings,
            )
            if decision.evidence is not None:
                evidence[sim] = decision.evidence
            if decision.report["promoted"]:
                new = ids.index(decision.report["chosen"])
                if not switched[sim] and run <= 3 and new == best:
                    to_best_by_3[sim] = True
                switched[sim] = True
                chosen[sim] = new
    return float(switched.mean()), float(to_best_by_3.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer simulations")
    args = parser.parse_args()
    sims = 300 if args.quick else 2000
    settings = PromotionSettings()
    started = time.perf_counter()

    print("Coverage of the 95% interval, 0/1 scores, exact, worst p in [0.01, 0.99]")
    print(f"{'n':>6} {'min coverage':>13} {'goal':>8}")
    for n in COVERAGE_NS:
        goal = 0.94 if n >= 200 else 0.93
        figure = exact_coverage(n)
        verdict = "ok" if figure >= goal else "MISSED"
        print(f"{n:>6} {figure:>13.4f} {'>= ' + str(goal):>8}  {verdict}")

    print(f"\nPromotion (margin {settings.margin}, min {settings.min_paired_n} pairs, {sims} sims)")
    print(f"{'case':<44} {'figure':>7} {'goal':>8}")
    for k in (5, 10):
        share, _ = simulate(
            probabilities=[0.7] * k, n=500, runs=20, sims=sims, seed=k, settings=settings
        )
        verdict = "ok" if share <= 0.05 else "MISSED"
        case = f"K={k} equal, n=500: switched in 20 re-runs"
        print(f"{case:<44} {share:>7.3f} {'<= 0.05':>8}  {verdict}")
    for k in (2, 5):
        probabilities = [0.7] * (k - 1) + [0.75]
        _, share = simulate(
            probabilities=probabilities, n=1000, runs=3, sims=sims, seed=100 + k, settings=settings
        )
        verdict = "ok" if share >= 0.80 else "MISSED"
        case = f"K={k}, +0.05 at n=1000: promoted within 3 runs"
        print(f"{case:<44} {share:>7.3f} {'>= 0.80':>8}  {verdict}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
