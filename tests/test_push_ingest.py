"""PUSH ingest end to end: scopes, refusals, dedupe, and both limits at the boundary and under
concurrency, against the real emulator over real HTTP."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import PUSH_LEADERBOARD, create_leaderboard, detail_of


def push_lb(ws, **overrides: Any) -> dict[str, Any]:
    resp = ws.http.post("/api/leaderboards", json={**PUSH_LEADERBOARD, **overrides})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def push(ws, lb_id: str, body: Any, client: httpx.Client | None = None) -> httpx.Response:
    return (client or ws.http).post(f"/api/leaderboards/{lb_id}/events", json=body)


def events_total(ws, lb_id: str) -> int:
    resp = ws.http.get(f"/api/leaderboards/{lb_id}/events?limit=1")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def test_push_one_and_a_batch_then_list_newest_first(ws):
    lb = push_lb(ws)
    one = push(ws, lb["id"], {"input": "first", "output": "ok", "metadata": {"k": 1}})
    assert one.status_code == 202, one.text
    assert one.json()["accepted"] == 1 and one.json()["duplicates"] == 0
    batch = push(ws, lb["id"], {"events": [{"input": f"q{i}"} for i in range(3)]})
    assert batch.status_code == 202
    assert batch.json()["accepted"] == 3
    listed = ws.http.get(f"/api/leaderboards/{lb['id']}/events?limit=10").json()
    assert listed["total"] == 4
    assert [e["input"] for e in listed["items"]] == ["q2", "q1", "q0", "first"]
    assert listed["items"][-1]["metadata"] == {"k": 1} and listed["items"][-1]["pending"]
    page = ws.http.get(f"/api/leaderboards/{lb['id']}/events?limit=2&offset=2").json()
    assert [e["input"] for e in page["items"]] == ["q0", "first"]


def test_only_datasets_push_may_push_and_it_may_do_nothing_else(ws):
    lb = push_lb(ws)
    pusher = ws.client(ws.token_with("datasets:push"))
    assert push(ws, lb["id"], {"input": "x"}, pusher).status_code == 202
    assert pusher.get(f"/api/leaderboards/{lb['id']}/events").status_code == 403
    assert pusher.get(f"/api/leaderboards/{lb['id']}").status_code == 403
    assert pusher.post(f"/api/leaderboards/{lb['id']}/run", json={}).status_code == 403
    reader = ws.client(ws.token_with("leaderboards:read", "leaderboards:run"))
    resp = push(ws, lb["id"], {"input": "y"}, reader)
    assert resp.status_code == 403 and "datasets:push" in detail_of(resp)
    assert ws.client(None).post(f"/api/leaderboards/{lb['id']}/events", json={}).status_code == 401
    # Another workspace's leaderboard is a 404, as if it did not exist.
    other = ws.client(ws.token_with("datasets:push"))
    assert push(ws, "lb_missing", {"input": "x"}, other).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"output": "no input"}, 422),
        ({"input": ""}, 422),
        ({"input": "   "}, 422),
        ({"input": 5}, 422),
        ({"events": [{"input": "ok"}, "not an object"]}, 422),
        ({"events": [{"input": "ok"}, {"expected": "no input"}]}, 422),
        ({"events": []}, 422),
        ({"events": [{"input": f"e{i}"} for i in range(501)]}, 422),
        ([{"input": "a list"}], 422),
        ({"input": "x", "unknown": 1}, 422),
        ({"input": "x", "metadata": "not an object"}, 422),
    ],
)
def test_bad_events_are_refused_and_nothing_of_the_request_is_stored(ws, body, status):
    lb = push_lb(ws)
    resp = push(ws, lb["id"], body)
    assert resp.status_code == status, resp.text
    detail_of(resp)
    assert events_total(ws, lb["id"]) == 0


def test_malformed_json_and_get_leaderboards_are_refused(ws):
    lb = push_lb(ws)
    resp = ws.http.post(
        f"/api/leaderboards/{lb['id']}/events",
        content=b'{"input": "x"',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and detail_of(resp)
    get_lb = create_leaderboard(ws)
    resp = push(ws, get_lb["id"], {"input": "x"})
    assert resp.status_code == 409 and "PUSH" in detail_of(resp)
    assert events_total(ws, lb["id"]) == 0


def test_dedupe_by_event_id_and_by_normalised_input(ws):
    lb = push_lb(ws)
    first = push(ws, lb["id"], {"events": [
        {"input": "Reset my password", "event_id": "a"},
        {"input": "Where is my ORDER?"},
    ]}).json()  # fmt: skip
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    again = push(ws, lb["id"], {"events": [
        {"input": "another text, same id", "event_id": "a"},   # same event_id
        {"input": "  where is my   order? "},                   # same normalised input
        {"input": "new one"},
        {"input": "new one"},                                   # a twin in the same request
    ]}).json()  # fmt: skip
    assert (again["accepted"], again["duplicates"]) == (1, 3)
    assert [r["status"] for r in again["results"]] == [
        "duplicate",
        "duplicate",
        "accepted",
        "duplicate",
    ]
    assert events_total(ws, lb["id"]) == 3


def test_without_dedupe_every_event_is_stored(ws):
    lb = push_lb(ws, dedupe=False)
    body = {"events": [{"input": "same", "event_id": "x"}, {"input": "same", "event_id": "x"}]}
    assert push(ws, lb["id"], body).json()["accepted"] == 2
    assert events_total(ws, lb["id"]) == 2


def test_redelivered_and_concurrent_pushes_store_each_event_once(ws):
    lb = push_lb(ws, daily_event_limit=100_000, monthly_event_limit=1_000_000)
    tag = uuid.uuid4().hex[:6]
    # 8 producers each send the same 3 batches of 50, at the same time: every event arrives
    # 8 times (a producer retrying a request it thinks was lost does the same).
    batches = [
        {"events": [{"input": f"{tag} q{b}-{i}", "event_id": f"{tag}-{b}-{i}"} for i in range(50)]}
        for b in range(3)
    ]
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def producer() -> None:
        client = ws.client(ws.token)
        barrier.wait()
        for body in batches:
            resp = push(ws, lb["id"], body, client)
            assert resp.status_code == 202, resp.text
            with lock:
                results.append(resp.json())

    threads = [threading.Thread(target=producer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["accepted"] for r in results) == 150
    assert sum(r["duplicates"] for r in results) == 150 * 7
    assert events_total(ws, lb["id"]) == 150
    today = ws.http.get(f"/api/leaderboards/{lb['id']}/dataset").json()["today"]
    assert today["count"] == 150


def test_daily_limit_at_the_boundary(ws):
    lb = push_lb(ws, daily_event_limit=5, monthly_event_limit=100)
    first = push(ws, lb["id"], {"events": [{"input": f"a{i}"} for i in range(3)]}).json()
    assert first["accepted"] == 3
    # Two fit, the third is past the limit: refused and not stored; duplicates do not count.
    second = push(
        ws, lb["id"], {"events": [{"input": "a0"}] + [{"input": f"b{i}"} for i in range(3)]}
    )
    assert second.status_code == 202
    body = second.json()
    assert (body["accepted"], body["duplicates"], body["refused"]) == (2, 1, 1)
    assert body["refused_reasons"] == {"daily_event_limit": 1}
    refused = [r for r in body["results"] if r["status"] == "refused"]
    assert refused[0]["reason"] == "daily_event_limit"
    # Nothing more fits: 429 naming the limit, Retry-After to the next UTC midnight.
    full = push(ws, lb["id"], {"input": "c"})
    assert full.status_code == 429
    assert "daily_event_limit" in detail_of(full) and full.json()["limit"] == "daily_event_limit"
    now = datetime.now(UTC)
    midnight = (now.replace(hour=0, minute=0, second=0, microsecond=0)).timestamp() + 86400
    assert abs(int(full.headers["Retry-After"]) - (midnight - now.timestamp())) < 30
    assert events_total(ws, lb["id"]) == 5
    # Duplicates of stored events are still answered as duplicates, not refusals.
    dup = push(ws, lb["id"], {"input": "a1"})
    assert dup.status_code == 202 and dup.json()["duplicates"] == 1
    status = ws.http.get(f"/api/leaderboards/{lb['id']}/dataset").json()
    assert status["today"]["count"] == 5 and status["today"]["limit"] == 5


def test_monthly_limit_at_the_boundary(ws):
    lb = push_lb(ws, daily_event_limit=10, monthly_event_limit=10)
    assert (
        push(ws, lb["id"], {"events": [{"input": f"a{i}"} for i in range(10)]}).json()["accepted"]
        == 10
    )
    # Equal limits: both are spent at once, and the month is what waits longer.
    full = push(ws, lb["id"], {"input": "more"})
    assert full.status_code == 429 and full.json()["limit"] == "monthly_event_limit"
    assert int(full.headers["Retry-After"]) >= 1


def test_limits_hold_exactly_under_concurrency(ws):
    lb = push_lb(ws, daily_event_limit=137, monthly_event_limit=1000)
    tag = uuid.uuid4().hex[:6]
    accepted: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def producer(p: int) -> None:
        client = ws.client(ws.token)
        barrier.wait()
        for b in range(3):
            body = {"events": [{"input": f"{tag}-{p}-{b}-{i}"} for i in range(10)]}
            resp = push(ws, lb["id"], body, client)
            assert resp.status_code in (202, 429), resp.text
            with lock:
                accepted.append(resp.json().get("accepted", 0))

    threads = [threading.Thread(target=producer, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 240 offered, 137 fit: exactly that many stored, and every stored one was answered.
    assert sum(accepted) == 137
    assert events_total(ws, lb["id"]) == 137


def test_limits_are_reached_exactly_across_days_whatever_shards_were_used(ws):
    """The clock driven through the repository's windows: 5 a day, 7 a month. The first day
    spends the daily quota on whatever shards the pushes drew; the second day still gets the
    month's last 2, though other shards hold them (the slow path moves them)."""
    from shared.repositories.events import Windows

    lb = push_lb(ws, daily_event_limit=5, monthly_event_limit=7)
    repo = ws.container.events

    def store(day: str, keys: list[str]) -> Any:
        windows = Windows(day=day, month=day[:7], daily_limit=5, monthly_limit=7)
        return repo.store(ws.id, lb["id"], [(k, {"key": k}) for k in keys], windows)

    for i in range(6):  # one at a time: each push draws its own shard
        out = store("2026-03-30", [f"a{i}"])
    assert out.refused == {"a5": "daily_event_limit"}
    first = store("2026-03-31", ["b0", "b1", "b2"])
    assert sorted(first.stored) == ["b0", "b1"]
    assert first.refused == {"b2": "monthly_event_limit"}
    # A new month starts from zero.
    assert len(store("2026-04-01", [f"c{i}" for i in range(6)]).stored) == 5
    assert repo.usage(ws.id, lb["id"], "2026-03-31", "2026-03") == (2, 7)
    assert repo.usage(ws.id, lb["id"], "2026-04-01", "2026-04") == (5, 5)
