"""The scheduler tick: cron-due runs start once, and stalled runs are mended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import create_leaderboard
from tests.test_runs import PROMPT, add_openrouter, make_dataset, model

CRON = {"version": 2, "triggers": {"cron": {"enabled": True, "expression": "0 6 * * 1"}}}


def lb_ref(ws, lb_id):
    return (
        ws.container.db.collection("workspaces")
        .document(ws.id)
        .collection("leaderboards")
        .document(lb_id)
    )


def make_due(ws, lb_id, minutes_ago=5):
    due = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    lb_ref(ws, lb_id).update({"next_scheduled_at": due})
    return due


def tick(stack):
    resp = httpx.post(f"{stack.base_url}/tasks/tick", timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def scheduled_leaderboard(ws, hf, llm):
    url, _ = make_dataset(hf, llm, 3)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact", schedule=CRON
    )
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    return lb


def test_due_cron_starts_one_scheduled_run_and_advances(ws, stack, hf, llm):
    lb = scheduled_leaderboard(ws, hf, llm)
    assert lb["next_scheduled_at"] is not None
    make_due(ws, lb["id"])
    first = tick(stack)
    again = tick(stack)  # Cloud Scheduler may deliver twice: still one run
    assert len(first["started"]) == 1 and again["started"] == []
    assert stack.dispatcher.join(timeout=60)
    runs = ws.http.get(f"/api/leaderboards/{lb['id']}/runs").json()
    assert runs["total"] == 1
    run = runs["items"][0]
    assert (run["run_source"], run["status"]) == ("schedule", "completed")
    nxt = ws.http.get(f"/api/leaderboards/{lb['id']}").json()["next_scheduled_at"]
    assert datetime.fromisoformat(nxt.replace("Z", "+00:00")) > datetime.now(UTC)


def test_not_due_paused_and_busy_leaderboards(ws, stack, hf, llm):
    idle = scheduled_leaderboard(ws, hf, llm)
    paused = scheduled_leaderboard(ws, hf, llm)
    ws.http.patch(f"/api/leaderboards/{paused['id']}", json={"status": "paused"})
    make_due(ws, paused["id"])
    report = tick(stack)
    assert idle["id"] not in str(report) and report["started"] == []
    assert {"leaderboard_id": paused["id"], "reason": "leaderboard is paused"} in report["skipped"]
    assert ws.http.get(f"/api/leaderboards/{paused['id']}/runs").json()["total"] == 0
    # Busy: a run is already active, so the firing is skipped (and not queued up for later).
    # Its tasks are held back, so it is still active at the tick however fast or slow this
    # machine is (a run that finished first made the tick start a second one).
    busy = scheduled_leaderboard(ws, hf, llm)
    start_without_tasks(ws, busy["id"])
    make_due(ws, busy["id"])
    report = tick(stack)
    assert any(
        s["leaderboard_id"] == busy["id"] and "still" in s["reason"] for s in report["skipped"]
    )
    assert stack.dispatcher.join(timeout=60)
    assert ws.http.get(f"/api/leaderboards/{busy['id']}/runs").json()["total"] == 1


def test_downgraded_workspace_does_not_run_schedules(ws, stack, hf, llm):
    lb = scheduled_leaderboard(ws, hf, llm)
    ws.container.db.collection("workspaces").document(ws.id).update({"plan": "free"})
    make_due(ws, lb["id"])
    report = tick(stack)
    assert any("does not include schedules" in s["reason"] for s in report["skipped"])


class LostQueue:
    """Every enqueue "succeeds", and the task never arrives (a lost Cloud Tasks task)."""

    def enqueue(self, **_kw):
        return True


def start_without_tasks(ws, lb_id, queue=None):
    """Start a run through the service, its prepare task handed to ``queue`` (lost, by
    default) instead of the dispatcher."""
    from shared.domain.auth import ALL_SCOPES, Principal
    from shared.services import runs as run_service

    c = ws.container
    run, _ = run_service.start_run(
        leaderboards=c.leaderboards, runs=c.runs, queue=queue or LostQueue(), clock=c.clock,
        principal=Principal(ws.id, "pro", ALL_SCOPES, "tok_x"), leaderboard_id=lb_id, body={},
    )  # fmt: skip
    return run


def lost_run_of_30_minutes_ago(ws, hf, llm):
    url, _ = make_dataset(hf, llm, 3)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    run = start_without_tasks(ws, lb["id"])
    ref = lb_ref(ws, lb["id"]).collection("runs").document(run.id)
    ref.update({"created_at": datetime.now(UTC) - timedelta(minutes=30)})
    return lb, run, ref


def test_stalled_queued_run_is_mended(ws, stack, hf, llm):
    lb, run, _ = lost_run_of_30_minutes_ago(ws, hf, llm)
    report = tick(stack)
    assert run.id in report["healed"]
    assert run.id not in tick(stack)["healed"]  # once per interval
    assert stack.dispatcher.join(timeout=60)
    final = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run.id}").json()
    assert final["status"] == "completed" and final["results"][0]["score"] == 1.0


def test_a_run_whose_tasks_keep_getting_lost_is_failed_after_its_resumptions(ws, stack, hf, llm):
    lb, run, ref = lost_run_of_30_minutes_ago(ws, hf, llm)
    c = ws.container
    stall = timedelta(seconds=c.settings.run_stall_seconds)
    real_queue = c.queue
    c.__dict__["queue"] = LostQueue()  # the tick's resumptions are lost too
    try:
        for resumption in range(1, c.settings.run_max_resumes + 1):
            report = tick(stack)
            assert run.id in report["healed"], resumption
            doc = ref.get().to_dict()
            assert (doc["resumes"], doc["idle_resumes"], doc["status"]) == (
                resumption,
                resumption,
                "queued",
            )
            assert run.id not in tick(stack)["healed"]  # not again within the stall window
            ref.update({"healed_at": datetime.now(UTC) - stall - timedelta(seconds=1)})
        report = tick(stack)
    finally:
        c.__dict__["queue"] = real_queue
    assert run.id in report["failed"] and run.id not in report["healed"]
    final = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run.id}").json()
    assert final["status"] == "failed"
    assert final["reason"].startswith("Stalled: no progress for 30 minutes, through 3 resumptions")
    # The leaderboard is not blocked by it.
    assert ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={}).status_code == 202
    assert stack.dispatcher.join(timeout=60)
