"""One structured log line per run state change, as the local stack (``python -m infra.dev``)
writes them to stdout, in Cloud Logging's format: a completed run logs queued, running and
completed with its figures; a run that cannot succeed logs failed with its reason."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx

from tests.conftest import create_leaderboard, free_port
from tests.test_crash_recovery import LocalStack
from tests.test_runs import PROMPT, add_openrouter, make_dataset, model


def run_states(stack: LocalStack, run_id: str) -> list[dict[str, Any]]:
    entries = []
    for line in stack.output:
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "run_state" and entry.get("run_id") == run_id:
                entries.append(entry)
    return entries


def finish(api: httpx.Client, lb_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (run := api.get(f"/api/leaderboards/{lb_id}/runs/{run_id}").json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return dict(run)


def test_each_run_state_change_is_one_structured_line(ws, hf, llm):
    url, _ = make_dataset(hf, llm, 6)
    good = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    lm = add_openrouter(ws, good["id"], model(llm, 1.0))
    missing = hf.url_for("acme/not-there", "eval.jsonl")
    bad = create_leaderboard(ws, dataset_url=missing, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, bad["id"], model(llm, 1.0))
    stack = LocalStack(free_port())
    api = httpx.Client(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {ws.token}"}, timeout=30
    )
    try:
        ok = api.post(f"/api/leaderboards/{good['id']}/run", json={}).json()
        failed = api.post(f"/api/leaderboards/{bad['id']}/run", json={}).json()
        assert finish(api, good["id"], ok["id"])["status"] == "completed"
        assert finish(api, bad["id"], failed["id"])["status"] == "failed"
        time.sleep(0.5)  # the last lines may still be on their way through the pipe
    finally:
        stack.kill(signal.SIGTERM)
        api.close()
    states = run_states(stack, ok["id"])
    assert [e["status"] for e in states] == ["queued", "running", "completed"]
    assert all(e["severity"] == "INFO" and e["workspace_id"] == ws.id for e in states)
    assert states[0]["message"] == f"run {ok['id']} queued"
    assert states[1]["samples"] == 6
    (result,) = states[2]["results"]
    assert result == {"leaderboard_model_id": lm, "score": 1.0, "n": 6, "rank": 1, "errors": 0}
    states = run_states(stack, failed["id"])
    assert [e["status"] for e in states] == ["queued", "failed"]
    assert states[1]["severity"] == "WARNING" and "404" in states[1]["reason"]
