"""PUSH datasets end to end: events consolidated into versions (by count, by hours, before a
run), the dataset views, dataset limits on runs, and once-only consolidation."""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.services import consolidation, scheduling
from tests.conftest import PUSH_LEADERBOARD, detail_of
from tests.test_runs import PROMPT, add_openrouter, model


def push_lb(ws, **overrides: Any) -> dict[str, Any]:
    resp = ws.http.post("/api/leaderboards", json={**PUSH_LEADERBOARD, **overrides})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def push(ws, lb_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/events", json={"events": events})
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


def dataset(ws, lb_id: str) -> dict[str, Any]:
    resp = ws.http.get(f"/api/leaderboards/{lb_id}/dataset")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def versions(ws, lb_id: str) -> list[dict[str, Any]]:
    resp = ws.http.get(f"/api/leaderboards/{lb_id}/dataset/versions")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def rows_of(ws, lb_id: str, version_id: str) -> list[dict[str, Any]]:
    return list(ws.container.events.version_rows(ws.id, lb_id, version_id))


def tick_at(ws, now: datetime) -> scheduling.TickReport:
    """The scheduler tick, its clock driven by the test (the tasks it enqueues run on the
    stack's dispatcher as usual)."""
    c = ws.container
    return scheduling.tick(
        schedules=c.schedules, leaderboards=c.leaderboards, workspaces=c.workspaces,
        runs=c.runs, events=c.events, queue=c.queue, clock=lambda: now, fail_run=c.pipeline.fail,
    )  # fmt: skip


def qa(llm, n: int, *, labelled: bool = True) -> list[dict[str, Any]]:
    """n fresh questions the model stand-in knows the answers to, as events."""
    tag = uuid.uuid4().hex[:8]
    rows = {f"Q{tag}x{i}": f"A{tag}x{i}" for i in range(n)}
    llm.dataset.update(rows)
    return [
        {"input": q, **({"expected": a} if labelled else {}), "event_id": q}
        for q, a in rows.items()
    ]


def test_consolidation_by_count_makes_an_immutable_version(ws, stack, llm):
    lb = push_lb(ws, consolidate_every_events=5)
    events = qa(llm, 7)
    push(ws, lb["id"], events[:4])
    assert stack.dispatcher.join(timeout=30)
    status = dataset(ws, lb["id"])
    assert status["current_version"] is None and status["pending_events"] == 4
    assert status["today"]["count"] == 4 and status["this_month"]["count"] == 4
    push(ws, lb["id"], events[4:6])  # 6 pending: past the count
    assert stack.dispatcher.join(timeout=30)
    status = dataset(ws, lb["id"])
    first = status["current_version"]
    assert first is not None and status["pending_events"] == 0
    assert (first["rows"], first["reason"], first["number"]) == (6, "events", 1)
    assert first["changes"] == {
        "added": 6, "removed": 0, "labelled": 0, "dropped_duplicates": 0, "dropped_unusable": 0,
    }  # fmt: skip
    assert [r["input"] for r in rows_of(ws, lb["id"], first["id"])] == [
        e["input"] for e in events[:6]
    ]
    # Events record the version that took them in.
    listed = ws.http.get(f"/api/leaderboards/{lb['id']}/events").json()["items"]
    assert {e["version_id"] for e in listed} == {first["id"]} and not any(
        e["pending"] for e in listed
    )
    # A redelivered consolidation task changes nothing.
    again = consolidation.enqueue_consolidation(
        stack.dispatcher, ws.id, lb["id"], reason="events", generation="redelivered"
    )
    assert again and stack.dispatcher.join(timeout=30)
    assert [v["id"] for v in versions(ws, lb["id"])] == [first["id"]]


def test_versions_list_what_changed_and_cap_at_max_samples(ws, stack, llm):
    lb = push_lb(ws, consolidate_every_events=3, max_samples_to_gather=4, auto_limit_size=True)
    events = qa(llm, 6)
    push(ws, lb["id"], events[:3])
    assert stack.dispatcher.join(timeout=30)
    push(ws, lb["id"], events[3:6])
    assert stack.dispatcher.join(timeout=30)
    second, first = versions(ws, lb["id"])
    assert (first["number"], second["number"]) == (1, 2)
    assert second["previous_id"] == first["id"]
    # The most recent 4 are kept: 3 added, 2 of the first version's 3 dropped.
    assert second["rows"] == 4
    assert (second["changes"]["added"], second["changes"]["removed"]) == (3, 2)
    assert [r["input"] for r in rows_of(ws, lb["id"], second["id"])] == [
        e["input"] for e in events[2:]
    ]
    # The first version is unchanged: versions are immutable.
    assert len(rows_of(ws, lb["id"], first["id"])) == 3


def test_without_auto_limit_gathering_stops_when_full(ws, stack, llm):
    lb = push_lb(ws, consolidate_every_events=3, max_samples_to_gather=4, auto_limit_size=False)
    events = qa(llm, 6)
    push(ws, lb["id"], events[:3])
    assert stack.dispatcher.join(timeout=30)
    push(ws, lb["id"], events[3:])
    assert stack.dispatcher.join(timeout=30)
    current = dataset(ws, lb["id"])["current_version"]
    assert [r["input"] for r in rows_of(ws, lb["id"], current["id"])] == [
        e["input"] for e in events[:4]
    ]


def test_consolidation_by_hours_when_anything_is_pending(ws, stack, llm):
    lb = push_lb(ws, consolidate_every_events=100, consolidate_every_hours=6)
    now = datetime.now(UTC)
    # Nothing pending at the due time: no version, and the next check is 6 hours on.
    report = tick_at(ws, now + timedelta(hours=6, minutes=1))
    assert lb["id"] not in report.consolidations
    push(ws, lb["id"], qa(llm, 2))
    assert lb["id"] not in tick_at(ws, now + timedelta(hours=7)).consolidations  # not due yet
    later = now + timedelta(hours=12, minutes=2)
    first, second = tick_at(ws, later), tick_at(ws, later)  # a tick delivered twice
    assert lb["id"] in first.consolidations and lb["id"] not in second.consolidations
    assert stack.dispatcher.join(timeout=30)
    status = dataset(ws, lb["id"])
    assert status["current_version"]["reason"] == "hours"
    assert status["current_version"]["rows"] == 2 and status["pending_events"] == 0


def test_concurrent_consolidations_make_one_version(ws, llm):
    lb = push_lb(ws, consolidate_every_events=1000)
    push(ws, lb["id"], qa(llm, 5))
    c = ws.container
    made: list[bool] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        result = consolidation.consolidate(
            events=c.events, leaderboards=c.leaderboards, clock=c.clock, chunk_size=5,
            ws=ws.id, lb_id=lb["id"], reason="events",
        )  # fmt: skip
        made.append(result.created)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made.count(True) >= 1
    (only,) = versions(ws, lb["id"])
    assert only["rows"] == 5 and dataset(ws, lb["id"])["pending_events"] == 0


def test_a_crash_before_marking_is_mended_by_the_next_consolidation(ws, llm):
    lb = push_lb(ws, consolidate_every_events=1000)
    push(ws, lb["id"], qa(llm, 3))
    c = ws.container
    real = c.events.mark_consumed
    c.events.mark_consumed = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash"))
    try:
        with contextlib.suppress(RuntimeError):
            consolidation.consolidate(
                events=c.events, leaderboards=c.leaderboards, clock=c.clock, chunk_size=5,
                ws=ws.id, lb_id=lb["id"], reason="events",
            )  # fmt: skip
    finally:
        del c.events.mark_consumed
    assert c.events.mark_consumed == real
    # The version is committed, its events still look pending; the next one finishes the
    # marking first, so nothing is taken in twice.
    push(ws, lb["id"], qa(llm, 1))
    consolidation.consolidate(
        events=c.events, leaderboards=c.leaderboards, clock=c.clock, chunk_size=5,
        ws=ws.id, lb_id=lb["id"], reason="events",
    )  # fmt: skip
    newest = versions(ws, lb["id"])[0]
    assert newest["rows"] == 4 and newest["changes"]["added"] == 1
    assert dataset(ws, lb["id"])["pending_events"] == 0


def test_push_run_consolidates_first_and_scores_every_event(ws, stack, llm):
    lb = push_lb(ws, eval_type="exact", system_prompt=PROMPT, consolidate_every_events=1000)
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert resp.status_code == 409 and "no data" in detail_of(resp)
    events = qa(llm, 7)
    push(ws, lb["id"], events)
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert resp.status_code == 202, resp.text
    assert stack.dispatcher.join(timeout=60)
    run = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{resp.json()['id']}").json()
    assert run["status"] == "completed", run
    assert run["progress"]["total"] == 7 and run["results"][0]["score"] == 1.0
    current = dataset(ws, lb["id"])["current_version"]
    assert current["reason"] == "run" and current["rows"] == 7
    assert run["dataset_version"]["revision"] == current["id"]
    assert run["dataset_version"]["selection"] == {"mode": "ALL"}


def limited(algorithm: str, rows: int) -> dict[str, Any]:
    return {
        "version": 2,
        "dataset": {"mode": "LIMIT", "limit": {"rows": rows, "algorithm": algorithm}},
    }


def samples(ws, lb_id: str, run: dict[str, Any]) -> list[str]:
    resp = ws.http.get(
        f"/api/leaderboards/{lb_id}/runs/{run['id']}/samples",
        params={"model_id": run["model_ids"][0], "limit": 100},
    )
    return [s["input"] for s in resp.json()["items"]]


def run_once(ws, stack, lb_id: str) -> dict[str, Any]:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/run", json={})
    assert resp.status_code == 202, resp.text
    assert stack.dispatcher.join(timeout=60)
    return dict(ws.http.get(f"/api/leaderboards/{lb_id}/runs/{resp.json()['id']}").json())


def test_last_n_first_n_and_seeded_random_n(ws, stack, llm):
    lb = push_lb(ws, eval_type="exact", system_prompt=PROMPT, consolidate_every_events=1000)
    events = qa(llm, 9)
    push(ws, lb["id"], events[:5])
    push(ws, lb["id"], events[5:])  # arrival order: the second request is the most recent
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    inputs = [e["input"] for e in events]

    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": limited("LAST_N", 3)})
    last = run_once(ws, stack, lb["id"])
    assert samples(ws, lb["id"], last) == inputs[-3:]

    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": limited("FIRST_N", 3)})
    assert samples(ws, lb["id"], run_once(ws, stack, lb["id"])) == inputs[:3]

    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": limited("RANDOM_N", 4)})
    one, two = run_once(ws, stack, lb["id"]), run_once(ws, stack, lb["id"])
    picked = samples(ws, lb["id"], one)
    assert len(picked) == 4 and set(picked) <= set(inputs)
    assert samples(ws, lb["id"], two) == picked  # the same data draws the same rows
    selection = one["dataset_version"]["selection"]
    assert selection["algorithm"] == "RANDOM_N" and selection["rows"] == 4
    assert selection["seed"] == one["dataset_version"]["content_sha256"]
    # The recorded seed reproduces the draw.
    expected = sorted(random.Random(selection["seed"]).sample(range(9), 4))
    assert picked == [inputs[i] for i in expected]


def test_pushes_interleaved_with_duplicate_consolidations_lose_nothing(ws, llm):
    """Producers push while consolidations (duplicates of each other) run: in the end every
    event is in the current version exactly once, and nothing is left pending."""
    lb = push_lb(ws, consolidate_every_events=1000, max_samples_to_gather=10_000)
    c = ws.container
    events = qa(llm, 120)
    stop = threading.Event()

    def consolidate_until_stopped() -> None:
        while not stop.wait(0.05):
            consolidation.consolidate(
                events=c.events, leaderboards=c.leaderboards, clock=c.clock, chunk_size=5,
                ws=ws.id, lb_id=lb["id"], reason="events",
            )  # fmt: skip

    def producer(part: list[dict[str, Any]]) -> None:
        client = ws.client(ws.token)
        for i in range(0, len(part), 10):
            resp = client.post(
                f"/api/leaderboards/{lb['id']}/events", json={"events": part[i : i + 10]}
            )
            assert resp.status_code == 202, resp.text

    workers = [threading.Thread(target=consolidate_until_stopped) for _ in range(2)]
    producers = [threading.Thread(target=producer, args=(events[p::3],)) for p in range(3)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join()
    stop.set()
    for t in workers:
        t.join()
    consolidation.consolidate(
        events=c.events, leaderboards=c.leaderboards, clock=c.clock, chunk_size=5,
        ws=ws.id, lb_id=lb["id"], reason="events",
    )  # fmt: skip
    current = dataset(ws, lb["id"])
    assert current["pending_events"] == 0
    inputs = [r["input"] for r in rows_of(ws, lb["id"], current["current_version"]["id"])]
    assert sorted(inputs) == sorted(e["input"] for e in events)
    # Each version's additions add up to the events: none taken in twice.
    added, offset = 0, 0
    while True:
        page = ws.http.get(
            f"/api/leaderboards/{lb['id']}/dataset/versions",
            params={"limit": 100, "offset": offset},
        ).json()
        added += sum(v["changes"]["added"] for v in page["items"])
        offset += 100
        if offset >= page["total"]:
            break
    assert added == 120
