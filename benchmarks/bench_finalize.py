"""Finalize at scale: the step that ranks a finished run, on the Firestore emulator.

    python -m benchmarks.bench_finalize [--models 5] [--samples 5000] [--large]

Writes a run whose every cell is scored (``--models`` x ``--samples``, in chunks of 125, each
cell with its answers and its summary, as the pipeline saves them), then times
``Pipeline.finalize`` (reading the cells' summaries, the statistics, the transaction that
completes the run) and its peak Python memory (tracemalloc; numpy reports its buffers to it).
``--large`` is issue 13's size, 25 x 50,000: 25,000 cells to write first, a few minutes.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from infra.emulator import FirestoreEmulator
from infra.processes import free_port

CHUNK = 125  # RUN_CHUNK_SIZE's default
GOAL_SECONDS = 10.0
GOAL_MIB = 512.0


class NoQueue:
    """Finalize enqueues nothing; the container still wants a queue."""

    def enqueue(self, **_: Any) -> bool:
        return True


def write_run(db: Any, ws: str, lb: str, run: str, models: int, samples: int) -> None:
    from shared.domain.results import cell_summary
    from shared.repositories.packing import pack_cell

    rng = random.Random(13)
    lb_ref = db.collection("workspaces").document(ws).collection("leaderboards").document(lb)
    lb_ref.set({"id": lb, "workspace_id": ws, "chosen_model_strategy": "manual"})
    chunks = (samples + CHUNK - 1) // CHUNK
    model_ids = [f"lm_{m:02d}" for m in range(models)]
    lb_ref.collection("runs").document(run).set(
        {
            "id": run,
            "workspace_id": ws,
            "leaderboard_id": lb,
            "status": "running",
            "eval_type": "exact",
            "eval_metadata": None,
            "model_ids": model_ids,
            "models": {m: {"name": m} for m in model_ids},
            "plan": {"chunks": chunks, "cells_total": chunks * models, "samples": samples},
            "chosen_model_strategy": "manual",
            "chosen_at_start": None,
            "created_at": datetime.now(UTC),
        }
    )
    writer = db.bulk_writer()
    cells = lb_ref.collection("runs").document(run).collection("cells")
    for m, model_id in enumerate(model_ids):
        skill = 0.5 + 0.01 * m
        for c in range(chunks):
            rows = []
            for i in range(c * CHUNK, min(samples, (c + 1) * CHUNK)):
                right = rng.random() < skill
                rows.append(
                    {
                        "index": i,
                        "output": "the answer is 42" if right else "no idea",
                        "error": None,
                        "score": 1.0 if right else 0.0,
                        "latency_ms": rng.uniform(100, 900),
                        "tokens_in": 40,
                        "tokens_out": 5,
                        "cost_usd": 0.00005,
                        "cached": False,
                    }
                )
            writer.set(
                cells.document(f"{model_id}__{c}"),
                # Stored as the pipeline stores a cell: its answers packed.
                pack_cell(
                    {
                        "leaderboard_model_id": model_id,
                        "chunk": c,
                        "state": "scored",
                        "n": len(rows),
                        "samples": rows,
                        "summary": cell_summary(rows),
                    }
                ),
            )
    writer.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=int, default=5)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--large", action="store_true", help="25 models x 50,000 samples")
    args = p.parse_args()
    models, samples = (25, 50_000) if args.large else (args.models, args.samples)
    logging.getLogger("podium").setLevel(logging.WARNING)

    emulator = FirestoreEmulator(f"127.0.0.1:{free_port()}", "demo-podium-bench")
    emulator.start()
    try:
        os.environ.update(
            {
                "FIRESTORE_EMULATOR_HOST": emulator.host_port,
                "GOOGLE_CLOUD_PROJECT": "demo-podium-bench",
            }
        )
        from shared import bootstrap
        from shared.services.pipeline import TaskRef

        container = bootstrap.Container(queue=NoQueue())
        started = time.perf_counter()
        write_run(container.db, "ws_bench", "lb_bench", "run_bench", models, samples)
        setup = time.perf_counter() - started

        # How much of finalize is reading the summaries.
        read = container.runs.cell_summaries
        spent: list[float] = []

        def timed(*a: Any, **k: Any) -> Any:
            began = time.perf_counter()
            try:
                return read(*a, **k)
            finally:
                spent.append(time.perf_counter() - began)

        container.runs.cell_summaries = timed  # type: ignore[method-assign]
        ref = TaskRef("ws_bench", "lb_bench", "run_bench")
        started = time.perf_counter()
        container.pipeline.finalize(ref)
        seconds = time.perf_counter() - started
        run = container.runs.get("ws_bench", "lb_bench", "run_bench") or {}
        assert run.get("status") == "completed", run.get("status")
        # Memory in a second pass: tracemalloc slows allocation-heavy code two- to threefold,
        # so it would distort the time.
        container.runs.transition(
            "ws_bench", "lb_bench", "run_bench", allowed_from=["completed"],
            fields={"status": "running"},
        )  # fmt: skip
        tracemalloc.start()
        container.pipeline.finalize(ref)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"finalize, {models} models x {samples:,} samples ({models * (samples // CHUNK):,} "
              f"cells, written in {setup:.0f} s), Firestore emulator, 2 cores:")  # fmt: skip
        print(f"  wall time   {seconds:8.2f} s    goal < {GOAL_SECONDS:g} s "
              f"(reading the summaries {spent[0]:.2f} s)")  # fmt: skip
        print(f"  peak memory {peak:8.1f} MiB  goal < {GOAL_MIB:g} MiB (Python allocations)")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
