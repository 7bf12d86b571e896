"""Throughput of a run: N models x M samples against a stand-in with a fixed latency.

    python -m benchmarks.run_throughput [--models 3] [--samples 200] [--latency-ms 200]
                                        [--concurrency 8] [--chunk-size 100] [--skip-promptfoo]

Everything is real but the model provider: the Firestore emulator, the gateway serving every
function over loopback HTTP, the local dispatcher delivering Cloud Tasks semantics, and the
stand-in speaking OpenAI's wire format with ``--latency-ms`` per call. Prints:

- wall time from ``POST /run`` to ``completed``, against the ideal
  ``latency x ceil(N*M / concurrency)`` (every call in a full wave, no overhead);
- Firestore writes per sample, counted at the client's commit RPC (documents written, including
  cells, the dataset version, response-cache entries and run state changes);
- the same workload run by promptfoo (npm) at the same concurrency against the same stand-in.

Concurrency means model calls in flight across the whole run on both sides: Podium's is the
provider's call budget (PROVIDER_CONCURRENCY, one per process, shared by every task), with
enough inference tasks at once to keep it full; promptfoo's is ``--max-concurrency``. The
stand-in's own count of requests in flight is printed for both, so the claim is checked, not
assumed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.emulator import FirestoreEmulator
from infra.processes import free_port

PROMPT = "Answer with the code only.\n\nQuestion: {input}"


@dataclass
class Side:
    name: str
    wall_seconds: float
    calls: int
    peak_in_flight: int
    detail: str


class InFlight:
    """Wraps the stand-in's handler to count concurrent model calls."""

    def __init__(self, standin: Any) -> None:
        self._standin, self._original = standin, standin.handle
        self._lock = threading.Lock()
        self.now = self.peak = self.calls = 0
        self.first = self.last = self.busy = 0.0
        standin.handle = self._handle

    def _handle(self, request: Any) -> Any:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
            self.first = self.first or time.perf_counter()
        began = time.perf_counter()
        try:
            return self._original(request)
        finally:
            with self._lock:
                self.now -= 1
                self.last = time.perf_counter()
                self.busy += self.last - began

    def reset(self) -> None:
        with self._lock:
            self.now = self.peak = self.calls = 0
            self.first = self.last = self.busy = 0.0


class WriteCounter:
    """Counts documents written, at the Firestore client's Commit RPC (batches, transactions
    and single writes all commit through it)."""

    def __init__(self) -> None:
        from google.cloud.firestore_v1.services.firestore import client as gapic

        self.writes = self.commits = 0
        self._lock = threading.Lock()
        original = gapic.FirestoreClient.commit
        counter = self

        def commit(self_: Any, *args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or (args[0] if args else None)
            n = len(getattr(request, "writes", None) or (request or {}).get("writes", []))
            with counter._lock:
                counter.writes += n
                counter.commits += 1
            return original(self_, *args, **kwargs)

        setattr(gapic.FirestoreClient, "commit", commit)  # noqa: B010 - instrumentation

    def reset(self) -> None:
        with self._lock:
            self.writes = self.commits = 0


def podium_side(
    args: argparse.Namespace, llm: Any, hf: Any, inflight: InFlight
) -> tuple[Side, dict[str, Any]]:
    from infra.gateway import serve
    from shared import bootstrap
    from shared.config import Settings
    from shared.domain.auth import ALL_SCOPES
    from shared.services import access
    from shared.tasks.limits import DEFAULT_QUEUE_LIMITS, QueueLimits
    from shared.tasks.local import LocalDispatcher
    from tests.standins.openai_server import StandinModel

    # Enough tasks at once that the budget always has samples waiting (a task streams its
    # whole chunk into it): twice the budget's worth of samples, and one more task.
    tasks_in_flight = math.ceil(2 * args.concurrency / args.chunk_size) + 2
    settings = Settings()
    server = serve("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    limits = dict(DEFAULT_QUEUE_LIMITS)
    limits["inference-openrouter"] = QueueLimits(
        max_concurrent=tasks_in_flight, max_per_second=1000.0
    )
    dispatcher = LocalDispatcher(base_url=base, queues=limits)
    container = bootstrap.Container(settings, queue=dispatcher)
    bootstrap.set_container(container)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dispatcher.start()

    rows = {f"B{uuid.uuid4().hex[:6]}q{i}": f"ans{i}" for i in range(args.samples)}
    llm.dataset.update(rows)
    url = hf.add_file(
        "bench/data",
        "eval.jsonl",
        "\n".join(json.dumps({"input": q, "expected": a}) for q, a in rows.items()),
    )
    names = [f"bench/model-{i}" for i in range(args.models)]
    for i, name in enumerate(names):
        llm.add_model(StandinModel(name, accuracy=0.9 - 0.2 * i, latency_ms=args.latency_ms))

    ws = access.create_workspace(
        workspaces=container.workspaces, clock=container.clock, name="bench", plan="pro"
    )
    token, _ = access.mint_token(
        tokens=container.tokens, workspaces=container.workspaces, clock=container.clock,
        workspace_id=str(ws["id"]), scopes=ALL_SCOPES,
    )  # fmt: skip
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    lb = http.post(
        "/api/leaderboards",
        json={"name": "bench", "system_prompt": PROMPT, "dataset_url": url, "eval_type": "exact"},
    ).json()
    for name in names:
        http.post(
            f"/api/leaderboards/{lb['id']}/models",
            json={"name": name, "platform": "OpenRouter", "model_url": name},
        )

    writes = WriteCounter()
    inflight.reset()
    start = time.perf_counter()
    run = http.post(f"/api/leaderboards/{lb['id']}/run", json={}).json()
    dispatcher.join(timeout=3600)
    wall = time.perf_counter() - start
    final = http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    if final["status"] != "completed":
        raise SystemExit(f"the run ended {final['status']}: {final.get('reason')}")
    samples = args.models * args.samples
    cold = {
        "before": inflight.first - start,
        "handler_ms": inflight.busy / max(1, inflight.calls) * 1000,
        "mean_in_flight": inflight.busy / max(1e-9, inflight.last - inflight.first),
        "after": start + wall - inflight.last,
        "writes": writes.writes,
        "commits": writes.commits,
        "calls": inflight.calls,
        "peak": inflight.peak,
    }

    # The same run again, served by the response cache.
    writes.reset()
    inflight.reset()
    start = time.perf_counter()
    run2 = http.post(f"/api/leaderboards/{lb['id']}/run", json={}).json()
    dispatcher.join(timeout=3600)
    warm_wall = time.perf_counter() - start
    warm = http.get(f"/api/leaderboards/{lb['id']}/runs/{run2['id']}").json()

    dispatcher.stop(timeout=10)
    server.shutdown()
    side = Side(
        "Podium",
        wall,
        cold["calls"],
        cold["peak"],
        f"budget {args.concurrency}, {tasks_in_flight} tasks at once; "
        f"{cold['writes'] / samples:.2f} writes/sample "
        f"({cold['writes']} documents in {cold['commits']} commits); first call "
        f"{cold['before']:.2f} s after POST /run, completed {cold['after']:.2f} s after the last; "
        f"{cold['mean_in_flight']:.1f} in flight on average, each answered in "
        f"{cold['handler_ms']:.0f} ms",
    )
    extras = {
        "writes_per_sample": cold["writes"] / samples,
        "warm_wall": warm_wall,
        "warm_hits": warm["cache_hits"],
        "warm_writes_per_sample": writes.writes / samples,
        "scores": {r["name"]: r["score"] for r in final["results"]},
        "rows": rows,
        "names": names,
    }
    return side, extras


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", type=int, default=3)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--latency-ms", type=float, default=200.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--chunk-size", type=int, default=100)
    p.add_argument("--skip-promptfoo", action="store_true")
    args = p.parse_args()

    from tests.standins.hf_server import HFStandin
    from tests.standins.openai_server import OpenAIStandin

    emulator = FirestoreEmulator(f"127.0.0.1:{free_port()}", "demo-podium-bench")
    emulator.start()
    hf = HFStandin().start()
    llm = OpenAIStandin()
    llm.keep_alive = True
    llm.start()
    os.environ.update(
        {
            "FIRESTORE_EMULATOR_HOST": emulator.host_port,
            "GOOGLE_CLOUD_PROJECT": "demo-podium-bench",
            "HF_ENDPOINT": hf.url,
            "OPENROUTER_BASE_URL": llm.openrouter_base_url,
            "PODIUM_ALLOW_PRIVATE_ENDPOINTS": "true",
            "RUN_CHUNK_SIZE": str(args.chunk_size),
            "PROVIDER_CONCURRENCY": str(args.concurrency),
        }
    )
    inflight = InFlight(llm)
    try:
        podium, extras = podium_side(args, llm, hf, inflight)
        sides = [podium]
        if not args.skip_promptfoo:
            from benchmarks.promptfoo_side import ensure_promptfoo, run_promptfoo

            ensure_promptfoo()
            inflight.reset()
            with tempfile.TemporaryDirectory() as tmp:
                result = run_promptfoo(
                    base_url=llm.base_url,
                    models=extras["names"],
                    inputs=list(extras["rows"]),
                    expected=extras["rows"],
                    prompt_template=PROMPT,
                    concurrency=args.concurrency,
                    workdir=Path(tmp),
                )
            sides.append(
                Side(
                    "promptfoo",
                    result.wall_seconds,
                    inflight.calls,
                    inflight.peak,
                    f"--max-concurrency {args.concurrency}; {result.passes} passed, "
                    f"{result.failures} failed, {result.errors} errors; its own duration "
                    f"{result.reported_seconds or float('nan'):.2f} s",
                )
            )
    finally:
        llm.stop()
        hf.stop()
        emulator.stop()

    n = args.models * args.samples
    ideal = args.latency_ms / 1000 * math.ceil(n / args.concurrency)
    print(
        f"\n{args.models} models x {args.samples} samples = {n} calls, "
        f"{args.latency_ms:.0f} ms each, "
        f"{args.concurrency} in flight: ideal {ideal:.2f} s\n"
    )
    print(f"{'':10} {'wall s':>8} {'x ideal':>8} {'calls':>6} {'peak':>5}  detail")
    for s in sides:
        ratio = s.wall_seconds / ideal
        print(
            f"{s.name:10} {s.wall_seconds:8.2f} {ratio:8.2f} {s.calls:6d} "
            f"{s.peak_in_flight:5d}  {s.detail}"
        )
    print(
        f"\nPodium again with a warm response cache: {extras['warm_wall']:.2f} s, "
        f"{extras['warm_hits']} cache hits, {extras['warm_writes_per_sample']:.2f} writes/sample"
    )
    print("Podium scores:", ", ".join(f"{k}={v:.3f}" for k, v in extras["scores"].items()))


if __name__ == "__main__":
    main()
