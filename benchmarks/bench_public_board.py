"""The public board's read: Firestore reads and latency with many published results.

    python -m benchmarks.bench_public_board [--results 1000] [--reads 300]

Publishes ``--results`` results for as many agents in one category (through the same service
and transactions as ``POST /publish``, in process, to save the set-up time of HTTP), then
reads ``GET /api/public/leaderboard?category=`` ``--reads`` times over real HTTP through the
gateway, counting the documents Firestore returned per read at the client's RPCs. Beside it, in
the same run, the emulator's own single-document get, so the board's figure can be read as
"this many gets".
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import threading
import time
from datetime import UTC, datetime

import httpx

from infra.emulator import FirestoreEmulator
from infra.processes import free_port

GOAL_READS = 3  # issue 10: at most 3 Firestore reads whatever the number of entries


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=int, default=1000)
    p.add_argument("--reads", type=int, default=300)
    args = p.parse_args()
    # One line per request would drown the figures.
    for name in ("podium.request", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)

    emulator = FirestoreEmulator(f"127.0.0.1:{free_port()}", "demo-podium-bench")
    emulator.start()
    os.environ.update(
        {"FIRESTORE_EMULATOR_HOST": emulator.host_port, "GOOGLE_CLOUD_PROJECT": "demo-podium-bench"}
    )
    from infra.gateway import serve
    from shared import bootstrap
    from shared.domain.auth import ALL_SCOPES, Principal
    from shared.services import access, public_catalog, publishing
    from tests.public_helpers import counting_reads, result_row, stored_run

    container = bootstrap.Container()
    bootstrap.set_container(container)
    server = serve("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.port}"
    try:
        ws = access.create_workspace(
            workspaces=container.workspaces, clock=container.clock, name="bench", plan="pro"
        )
        who = Principal(str(ws["id"]), "pro", ALL_SCOPES, "tok_bench")
        admin = Principal("", "", frozenset({"platform:admin"}), "tok_admin", is_admin=True)
        slug = "bench"
        public_catalog.create_category(
            public=container.public,
            clock=container.clock,
            principal=admin,
            body={"slug": slug, "name": "Bench"},
        )
        started = time.perf_counter()
        for i in range(args.results):
            agent, _ = public_catalog.create_agent(
                public=container.public,
                clock=container.clock,
                principal=who,
                body={"name": f"Agent {i:05d}", "organization": "Bench"},
                idempotency_key=None,
            )
            run = stored_run(
                container, who.workspace_id, results=[result_row("m", i / args.results)]
            )
            publishing.publish(
                public=container.public,
                clock=container.clock,
                principal=who,
                body={
                    "suite_execution_id": run,
                    "category_slug": slug,
                    "agent_profile_id": agent.id,
                },
            )
        setup = time.perf_counter() - started

        doc = container.db.collection("_bench").document("one")
        doc.set({"at": datetime.now(UTC)})
        gets = []
        for _ in range(args.reads):
            t = time.perf_counter()
            doc.get()
            gets.append((time.perf_counter() - t) * 1000)

        latencies, reads, health = [], [], []
        with httpx.Client(base_url=base_url, timeout=30) as http:
            # The same path through HTTP, the gateway and the router around one document get.
            for _ in range(args.reads):
                t = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                health.append((time.perf_counter() - t) * 1000)
            for _ in range(args.reads):
                with counting_reads(container.db) as counter:
                    t = time.perf_counter()
                    resp = http.get("/api/public/leaderboard", params={"category": slug})
                    latencies.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.text
                reads.append(counter.reads)
            body = resp.json()
            size = len(resp.content)
    finally:
        server.shutdown()
        server.server_close()
        bootstrap.set_container(None)
        emulator.stop()

    print(
        f"\n{args.results} results published for {args.results} agents in one category "
        f"in {setup:.1f} s ({setup / args.results * 1000:.0f} ms per publish, agent included); "
        f"board total_entries {body['total_entries']}, page {len(body['entries'])} entries, "
        f"{size / 1024:.1f} KiB\n"
    )
    print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'reads':>7} {'goal':>6}")
    print(
        f"{'GET /api/public/leaderboard?category= (HTTP)':44} "
        f"{statistics.median(latencies):8.2f} {_percentile(latencies, 99):8.2f} "
        f"{max(reads):7d} {'<= ' + str(GOAL_READS):>6}"
    )
    print(
        f"{'GET /healthz (HTTP, one document get)':44} "
        f"{statistics.median(health):8.2f} {_percentile(health, 99):8.2f} {1:7d} {'':>6}"
    )
    print(
        f"{'emulator single-document get (client)':44} "
        f"{statistics.median(gets):8.2f} {_percentile(gets, 99):8.2f} {1:7d} {'':>6}"
    )


if __name__ == "__main__":
    main()
