"""A crash mid-run: the local stack (``python -m infra.dev``, what ``make dev`` runs) is killed
with SIGKILL while a run is half done, taking its in-memory task queue with it. Restarted, it
must finish the run exactly, within seconds of the stall window: the scheduler tick sees that
no cell has been written for RUN_STALL_SECONDS, resumes the run, and only the cells that were
not scored are worked on again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.conftest import create_leaderboard, free_port
from tests.test_auth import ROOT
from tests.test_runs import PROMPT, add_openrouter, expected_scores, make_dataset, model

# Small windows so the test takes seconds; production defaults are minutes (shared/config.py).
CRASH_SETTINGS = {
    "SCHEDULER_TICK_SECONDS": "0.5",
    "RUN_LEASE_SECONDS": "2",
    "RUN_STALL_SECONDS": "5",
}


class LocalStack:
    """``python -m infra.dev`` in its own process group, on its own port."""

    def __init__(self, port: int) -> None:
        env = {**os.environ, **CRASH_SETTINGS, "PORT": str(port),
               # make dev's dataset host and model server, off their fixed ports
               "PODIUM_DATA_PORT": str(free_port()), "PODIUM_MODEL_PORT": str(free_port())}  # fmt: skip
        self.base_url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.dev"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(60):
            self.kill()
            raise AssertionError("the local stack did not start:\n" + "".join(self.output[-40:]))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if "Podium API on" in line:
                self.ready.set()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        self.proc.wait(timeout=30)


def test_sigkill_mid_run_then_restart_finishes_the_run_exactly(ws, hf, llm):
    url, rows = make_dataset(hf, llm, 60)  # 12 cells of 5 samples
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    slow = model(llm, 0.7, latency_ms=400)
    lm = add_openrouter(ws, lb["id"], slow)
    port = free_port()
    first = LocalStack(port)
    api = httpx.Client(
        base_url=first.base_url, headers={"Authorization": f"Bearer {ws.token}"}, timeout=30
    )
    try:
        run = api.post(f"/api/leaderboards/{lb['id']}/run", json={"use_cache": False}).json()
        path = f"/api/leaderboards/{lb['id']}/runs/{run['id']}"
        deadline = time.monotonic() + 60
        while api.get(path).json()["progress"]["cells_done"] < 3:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind, in-flight calls and queued tasks lost
    killed_at = time.monotonic()
    scored_before = scored_inputs(ws, lb["id"], run["id"])
    assert 3 <= len(scored_before) < 60, "kill the stack while the run is half done"

    second = LocalStack(port)
    try:
        deadline = time.monotonic() + 120
        while (final := api.get(path).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the restarted stack did not finish the run"
            time.sleep(0.2)
        recovered_in = time.monotonic() - killed_at
    finally:
        second.kill(signal.SIGTERM)
        api.close()
    assert final["status"] == "completed", (final.get("reason"), "".join(second.output))
    result = final["results"][0]
    expected = expected_scores({lm: slow}, rows)[lm]
    assert (result["n"], result["errors"]) == (60, 0)
    assert result["score"] == sum(expected) / 60
    # Exactly: samples scored before the crash were not asked again; the rest at least once.
    calls = Counter(
        body["messages"][0]["content"].rsplit("Question: ", 1)[1]
        for body in map(parsed, llm.requests)
        if body.get("model") == slow.name
    )
    assert set(calls) == set(rows)
    assert all(calls[q] == 1 for q in scored_before), {q: calls[q] for q in scored_before}
    # Within the stall window plus the time to start and finish, not an hour.
    assert recovered_in < 60, recovered_in


def parsed(request: Any) -> dict[str, Any]:
    """A request's JSON body; {} for one the kill cut off mid-send."""
    try:
        return dict(json.loads(request.body))
    except ValueError:
        return {}


def scored_inputs(ws: Any, lb_id: str, run_id: str) -> set[str]:
    db = ws.container.db
    run_ref = (
        db.collection("workspaces").document(ws.id).collection("leaderboards").document(lb_id)
        .collection("runs").document(run_id)
    )  # fmt: skip
    run = run_ref.get().to_dict()
    version = run["dataset_version"]["id"]
    chunks = (
        db.collection("workspaces").document(ws.id).collection("leaderboards").document(lb_id)
        .collection("dataset_versions").document(version).collection("chunks")
    )  # fmt: skip
    inputs = {c.get("index"): [s["input"] for s in c.get("samples")] for c in chunks.stream()}
    done: set[str] = set()
    for cell in run_ref.collection("cells").stream():
        c = cell.to_dict()
        if c["state"] == "scored":
            done.update(inputs[c["chunk"]])
    return done
