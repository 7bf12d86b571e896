"""The schedule's new_data trigger: checked once per check_cadence, first at the first tick
after it is enabled or changed; at least every_new_events events since the last run start one
run, even when the tick is delivered twice (at once, or one after the other)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.test_push_datasets import push, push_lb, qa, tick_at
from tests.test_runs import PROMPT, add_openrouter, model


def new_data(every: int, cadence: str = "HOURLY") -> dict[str, Any]:
    return {
        "version": 2,
        "triggers": {
            "new_data": {"enabled": True, "check_cadence": cadence, "every_new_events": every}
        },
    }


def runs_of(ws, lb_id: str) -> list[dict[str, Any]]:
    return list(ws.http.get(f"/api/leaderboards/{lb_id}/runs").json()["items"])


def ticks_at_once(ws, now: datetime, n: int = 2) -> list[Any]:
    reports: list[Any] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        reports.append(tick_at(ws, now))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return reports


def test_new_data_starts_one_run_per_check_when_enough_arrived(ws, stack, llm):
    lb = push_lb(ws, eval_type="exact", system_prompt=PROMPT, schedule=new_data(3))
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    events = qa(llm, 8)
    push(ws, lb["id"], events[:2])
    now = datetime.now(UTC) + timedelta(seconds=1)
    # The first tick after enabling checks at once: 2 < 3, no run; next check in an hour.
    assert lb["id"] not in str(tick_at(ws, now).skipped) and runs_of(ws, lb["id"]) == []
    push(ws, lb["id"], events[2:4])
    assert tick_at(ws, now + timedelta(minutes=30)).started == []  # not due before the hour
    due = now + timedelta(hours=1, minutes=1)
    reports = [*ticks_at_once(ws, due), tick_at(ws, due)]  # delivered three times
    started = [r for report in reports for r in report.started]
    assert len(started) == 1
    assert stack.dispatcher.join(timeout=60)
    (run,) = runs_of(ws, lb["id"])
    assert (run["run_source"], run["status"]) == ("new_data", "completed")
    assert run["progress"]["total"] == 4
    # Nothing new since that run: the next check starts nothing.
    assert tick_at(ws, due + timedelta(hours=1, minutes=1)).started == []
    # Three more arrive; the check after them runs again. (The run started at the driven
    # clock's time, an hour ahead; events arrive at the real one: put the run back in time.)
    lb_ref = ws.container.db.collection("workspaces").document(ws.id).collection("leaderboards")
    lb_ref.document(lb["id"]).collection("runs").document(run["id"]).update(
        {"created_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    push(ws, lb["id"], events[4:7])
    assert len(tick_at(ws, due + timedelta(hours=2, minutes=2)).started) == 1
    assert stack.dispatcher.join(timeout=60)
    assert [r["run_source"] for r in runs_of(ws, lb["id"])] == ["new_data", "new_data"]


def test_changing_the_trigger_checks_at_the_next_tick(ws, stack, llm):
    lb = push_lb(ws, eval_type="exact", system_prompt=PROMPT, schedule=new_data(5, "DAILY"))
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    push(ws, lb["id"], qa(llm, 3))
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert tick_at(ws, now).started == []  # 3 < 5; the next check is a day away
    assert tick_at(ws, now + timedelta(hours=2)).started == []
    resp = ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": new_data(2, "DAILY")})
    assert resp.status_code == 200, resp.text
    assert len(tick_at(ws, datetime.now(UTC) + timedelta(seconds=1)).started) == 1
    assert stack.dispatcher.join(timeout=60)
    # Disabled: no more checks.
    off = {"version": 2, "triggers": {"new_data": {"enabled": False}}}
    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": off})
    push(ws, lb["id"], qa(llm, 5))
    assert tick_at(ws, datetime.now(UTC) + timedelta(days=3)).started == []
    assert len(runs_of(ws, lb["id"])) == 1
