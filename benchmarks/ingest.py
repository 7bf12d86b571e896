"""Ingest throughput: PUSH events/s on one instance against the Firestore emulator.

    python -m benchmarks.ingest [--producers 8] [--batch 100] [--seconds 20] [--redeliver 0.1]

Everything is real: the emulator, every function behind the gateway over loopback HTTP (one
process: one instance), dedupe on. ``--producers`` threads push batches of ``--batch`` fresh
events for ``--seconds``; a ``--redeliver`` share of requests is sent twice (a producer that
timed out and retried), so dedupe does real work. Then the events are counted in the store and
against what the producers were told, so nothing lost or double-counted goes unseen. Prints
sustained events/s and the p50/p99 latency of a push request beside the goal.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid

import httpx

from infra.emulator import FirestoreEmulator
from infra.processes import free_port

GOAL_EVENTS_PER_SECOND = 500.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--producers", type=int, default=8)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--redeliver", type=float, default=0.1, help="share of requests sent twice")
    args = p.parse_args()

    emulator = FirestoreEmulator(f"127.0.0.1:{free_port()}", "demo-podium-bench")
    emulator.start()
    os.environ.update(
        {"FIRESTORE_EMULATOR_HOST": emulator.host_port, "GOOGLE_CLOUD_PROJECT": "demo-podium-bench"}
    )
    from infra.gateway import serve
    from shared import bootstrap
    from shared.config import Settings
    from shared.domain.auth import ALL_SCOPES
    from shared.services import access
    from shared.tasks.local import LocalDispatcher

    server = serve("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    dispatcher = LocalDispatcher(base_url=base)
    container = bootstrap.Container(Settings(), queue=dispatcher)
    bootstrap.set_container(container)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dispatcher.start()
    try:
        ws = access.create_workspace(
            workspaces=container.workspaces, clock=container.clock, name="bench", plan="pro"
        )
        token, _ = access.mint_token(
            tokens=container.tokens,
            workspaces=container.workspaces,
            clock=container.clock,
            workspace_id=str(ws["id"]),
            scopes=ALL_SCOPES,
        )
        headers = {"Authorization": f"Bearer {token}"}
        admin = httpx.Client(base_url=base, headers=headers, timeout=60)
        lb = admin.post(
            "/api/leaderboards",
            json={
                "name": "ingest bench",
                "system_prompt": "{input}",
                "dataset_type": "PUSH",
                "dedupe": True,
                "daily_event_limit": 1_000_000,
                "monthly_event_limit": 10_000_000,
                # As a busy app would set it: a version every 500 events, built by its own
                # task on the same instance while the pushes go on.
                "consolidate_every_events": 500,
                "max_samples_to_gather": 1000,
            },
        ).json()
        lb_id = lb["id"]
        latencies: list[float] = []
        told = {"accepted": 0, "duplicates": 0}
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds
        start = threading.Barrier(args.producers + 1)

        def producer(n: int) -> None:
            client = httpx.Client(base_url=base, headers=headers, timeout=60)
            rng = random.Random(n)
            start.wait()
            while time.perf_counter() < deadline:
                tag = uuid.uuid4().hex
                body = {
                    "events": [
                        {
                            "input": f"question {tag} {i}",
                            "event_id": f"{tag}-{i}",
                            "output": "an answer",
                            "metadata": {"producer": n},
                        }
                        for i in range(args.batch)
                    ]
                }
                for _ in range(2 if rng.random() < args.redeliver else 1):
                    t0 = time.perf_counter()
                    resp = client.post(f"/api/leaderboards/{lb_id}/events", json=body)
                    elapsed = time.perf_counter() - t0
                    if resp.status_code != 202:
                        raise SystemExit(f"push failed: {resp.status_code} {resp.text[:300]}")
                    result = resp.json()
                    with lock:
                        latencies.append(elapsed)
                        told["accepted"] += result["accepted"]
                        told["duplicates"] += result["duplicates"]

        threads = [threading.Thread(target=producer, args=(i,)) for i in range(args.producers)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        dispatcher.join(timeout=120)
        versions = admin.get(f"/api/leaderboards/{lb_id}/dataset/versions?limit=1").json()
        stored = int(admin.get(f"/api/leaderboards/{lb_id}/events?limit=1").json()["total"])
        usage = admin.get(f"/api/leaderboards/{lb_id}/dataset").json()["today"]["count"]
    finally:
        dispatcher.stop(timeout=10)
        server.shutdown()
        emulator.stop()

    rate = told["accepted"] / wall
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(
        f"\n{args.producers} producers, batches of {args.batch}, {args.seconds:.0f} s, "
        f"{args.redeliver:.0%} of requests delivered twice, dedupe on"
    )
    print(
        f"{'events/s (stored)':24} {rate:10.0f}   goal >= {GOAL_EVENTS_PER_SECOND:.0f}"
        f"   {'ok' if rate >= GOAL_EVENTS_PER_SECOND else 'BELOW GOAL'}"
    )
    print(
        f"{'push p50 / p99 ms':24} {p50:10.0f} / {p99:.0f}   ({len(latencies)} requests, "
        f"mean {statistics.mean(latencies) * 1000:.0f} ms)"
    )
    print(f"{'accepted / duplicates':24} {told['accepted']:10d} / {told['duplicates']}")
    consistent = stored == told["accepted"] == usage
    print(
        f"{'stored / counted':24} {stored:10d} / {usage}   "
        f"{'no event lost or double-counted' if consistent else 'MISMATCH'}"
    )
    print(f"{'dataset versions made':24} {versions['total']:10d}   (every 500 events, meanwhile)")
    if not consistent:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
