"""The schedule's model_version trigger against a stand-in OpenRouter catalog: checked once per
cadence, first at the first tick after it is enabled; a moved snapshot starts exactly one run
(ticks delivered twice at once and again after) and is recorded; newer siblings are
suggestions, never added."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.providers.openrouter_catalog import OpenRouterCatalog
from shared.services import scheduling
from tests.conftest import GET_LEADERBOARD
from tests.people import sign_up
from tests.standins.openai_server import catalog_entry
from tests.test_runs import make_dataset, model

SCHEDULE = {"version": 2, "triggers": {"model_version": {"enabled": True, "cadence": "DAILY"}}}


def tick_at(container: Any, now: datetime) -> scheduling.TickReport:
    c = container
    return scheduling.tick(
        schedules=c.schedules, leaderboards=c.leaderboards, workspaces=c.workspaces,
        runs=c.runs, events=c.events, queue=c.queue, clock=lambda: now,
        fail_run=c.pipeline.fail, catalog=c.catalog, openrouter_key=c.openrouter_key,
    )  # fmt: skip


def ticks(container: Any, now: datetime) -> list[str]:
    """The tick delivered three times: twice at once, then once more; the runs they started."""
    reports: list[scheduling.TickReport] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        reports.append(tick_at(container, now))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reports.append(tick_at(container, now))
    return [r for report in reports for r in report.started]


@pytest.fixture
def catalog(llm):
    saved = list(llm.catalog)
    yield llm
    llm.catalog = saved


def test_a_moved_snapshot_starts_one_run_and_siblings_are_suggested(
    base_url, container, stack, hf, catalog
):
    llm = catalog
    person = sign_up(base_url, "versions")
    client = person.client()
    ws_id = client.post("/api/workspaces", json={"name": "versions"}).json()["id"]
    container.workspaces.update(ws_id, {"plan": "pro"})
    key = f"sk-or-v1-{secrets.token_hex(12)}"
    client.put(f"/api/workspaces/{ws_id}/integrations/openrouter", json={"api_key": key})
    url, _ = make_dataset(hf, llm, 3)
    lb = client.post(
        "/api/leaderboards", json={**GET_LEADERBOARD, "dataset_url": url, "eval_type": "exact"}
    ).json()
    m = model(llm, 1.0)
    author = m.name.split("/")[0]
    body = {"name": m.name, "platform": "OpenRouter", "model_url": m.name}
    lm = client.post(f"/api/leaderboards/{lb['id']}/models", json=body).json()["id"]
    sibling = f"{author}/m-200"
    llm.catalog = [
        catalog_entry(m.name, canonical_slug=f"{m.name}-2025-01", created=1_700_000_000),
        catalog_entry(sibling, created=1_710_000_000),
        catalog_entry(f"{author}/other-1", created=1_720_000_000),
    ]
    resp = client.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": SCHEDULE})
    assert resp.status_code == 200, resp.text

    # The first tick after enabling checks at once: it records the snapshot, starts nothing.
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert ticks(container, now) == []
    detail = client.get(f"/api/leaderboards/{lb['id']}").json()
    (candidate,) = detail["models"]
    assert candidate["catalog"]["canonical_slug"] == f"{m.name}-2025-01"
    assert [(s["leaderboard_model_id"], s["model_url"]) for s in detail["model_suggestions"]] == [
        (lm, sibling)
    ]
    assert detail["model_count"] == 1  # suggested, not added

    # Not due again before the cadence, whatever the catalog says.
    llm.catalog[0] = {**llm.catalog[0], "canonical_slug": f"{m.name}-2025-06"}
    assert ticks(container, now + timedelta(hours=2)) == []

    due = now + timedelta(days=1, minutes=1)
    started = ticks(container, due)
    assert len(started) == 1
    assert stack.dispatcher.join(timeout=60)
    runs = client.get(f"/api/leaderboards/{lb['id']}/runs").json()["items"]
    assert [(r["run_source"], r["status"]) for r in runs] == [("model_version", "completed")]
    (candidate,) = client.get(f"/api/leaderboards/{lb['id']}").json()["models"]
    assert candidate["catalog"]["canonical_slug"] == f"{m.name}-2025-06"

    # Unchanged at the next check: no run.
    assert ticks(container, due + timedelta(days=1, minutes=1)) == []
    assert len(client.get(f"/api/leaderboards/{lb['id']}/runs").json()["items"]) == 1


def test_the_catalog_is_cached_briefly_per_key(llm):
    """One fetch per key within the TTL, a new one after it (the suite's container uses a TTL
    of 0 so tests can change the stand-in's catalog)."""
    llm.catalog_requests.clear()
    now = [100.0]
    catalog = OpenRouterCatalog(
        client=httpx.Client(),
        base_url=llm.openrouter_base_url,
        deployment_api_key=None,
        timeout=5,
        ttl_seconds=300,
        monotonic=lambda: now[0],
    )
    for _ in range(3):
        catalog.models("key-a")
    catalog.models("key-b")
    now[0] += 301
    catalog.models("key-a")
    assert [a for _, a in llm.catalog_requests] == [
        "Bearer key-a",
        "Bearer key-b",
        "Bearer key-a",
    ]


def test_each_run_records_the_snapshot_it_evaluated(base_url, container, stack, hf, catalog):
    """A manual run after the snapshot moved evaluated the new one: it records it, and the
    trigger's next check has nothing to fire for."""
    llm = catalog
    person = sign_up(base_url, "runs-record")
    client = person.client()
    ws_id = client.post("/api/workspaces", json={"name": "records"}).json()["id"]
    container.workspaces.update(ws_id, {"plan": "pro"})
    url, _ = make_dataset(hf, llm, 2)
    lb = client.post(
        "/api/leaderboards", json={**GET_LEADERBOARD, "dataset_url": url, "eval_type": "exact"}
    ).json()
    m = model(llm, 1.0)
    body = {"name": m.name, "platform": "OpenRouter", "model_url": m.name}
    assert client.post(f"/api/leaderboards/{lb['id']}/models", json=body).status_code == 201
    llm.catalog = [catalog_entry(m.name, canonical_slug=f"{m.name}-v1")]

    def run_once() -> dict[str, Any]:
        run = client.post(f"/api/leaderboards/{lb['id']}/run", json={}).json()
        assert stack.dispatcher.join(timeout=60)
        (candidate,) = client.get(f"/api/leaderboards/{lb['id']}").json()["models"]
        done = client.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
        assert done["status"] == "completed", done
        return dict(candidate["catalog"])

    assert run_once()["canonical_slug"] == f"{m.name}-v1"
    client.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": SCHEDULE})
    llm.catalog = [catalog_entry(m.name, canonical_slug=f"{m.name}-v2")]
    assert run_once()["canonical_slug"] == f"{m.name}-v2"
    assert ticks(container, datetime.now(UTC) + timedelta(seconds=1)) == []
    assert len(client.get(f"/api/leaderboards/{lb['id']}/runs").json()["items"]) == 2
