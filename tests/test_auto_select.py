"""Auto-select from OpenRouter's catalog (a stand-in speaking its documented format), as a
signed-in person, over real HTTP."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import GET_LEADERBOARD, detail_of
from tests.people import sign_up
from tests.standins.openai_server import catalog_endpoint, catalog_entry

M = 1e-6  # USD per token for $1 per million tokens


@pytest.fixture
def board(base_url, container, llm):
    """A signed-in owner of a pro workspace with its own OpenRouter key (so the catalog cache,
    keyed by key, is this test's own) and an empty leaderboard."""
    person = sign_up(base_url, "selector")
    client = person.client()
    ws_id = client.post("/api/workspaces", json={"name": "auto"}).json()["id"]
    container.workspaces.update(ws_id, {"plan": "pro"})  # what billing would do
    key = f"sk-or-v1-{secrets.token_hex(12)}"
    assert (
        client.put(
            f"/api/workspaces/{ws_id}/integrations/openrouter", json={"api_key": key}
        ).status_code
        == 200
    )
    resp = client.post("/api/leaderboards", json=GET_LEADERBOARD)
    assert resp.status_code == 201, resp.text
    saved = (list(llm.catalog), dict(llm.catalog_endpoints))
    llm.catalog_requests.clear()
    yield {"person": person, "client": client, "ws": ws_id, "lb": resp.json()["id"], "key": key}
    llm.catalog, llm.catalog_endpoints = saved


def _select(board, **body):
    return board["client"].post(f"/api/leaderboards/{board['lb']}/models/auto-select", json=body)


def _tag() -> str:
    return secrets.token_hex(3)


def test_an_api_token_is_refused(ws):
    lb = ws.http.post("/api/leaderboards", json=GET_LEADERBOARD).json()
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/models/auto-select", json={})
    assert resp.status_code == 403
    assert "signed-in session" in detail_of(resp)


def test_cost_filters_at_their_boundary_and_endpoints_are_not_asked_for_them(board, llm):
    t = _tag()
    llm.catalog = [
        catalog_entry(f"a{t}/in-at-limit", price_in=0.5 * M, price_out=1.0 * M),
        catalog_entry(f"b{t}/in-over", price_in=0.51 * M, price_out=0.1 * M),
        catalog_entry(f"c{t}/out-over", price_in=0.1 * M, price_out=1.01 * M),
        catalog_entry(f"d{t}/images", output_modalities=("image",)),
        catalog_entry(f"e{t}/cheap", price_in=0.0, price_out=0.0),
    ]
    llm.catalog_endpoints = {m["id"]: [catalog_endpoint(100, 200, 300)] for m in llm.catalog}
    resp = _select(
        board,
        numberOfModels=5,
        limitCost=True,
        inputPricePerMTokens=0.5,
        outputPricePerMTokens=1,
        limitLatency=True,
        latencyP99Seconds=10,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert sorted(m["model_url"] for m in body["added"]) == [f"a{t}/in-at-limit", f"e{t}/cheap"]
    assert body["excluded"] == {
        "not_text": 1,
        "already_on_leaderboard": 0,
        "open_source": 0,
        "cost": 2,
        "latency": 0,
    }
    asked = {p.split("/models/", 1)[1] for p, _ in llm.catalog_requests if "/endpoints" in p}
    assert asked == {f"a{t}/in-at-limit/endpoints", f"e{t}/cheap/endpoints"}
    # Every catalog call carried the workspace's key.
    assert {a for _, a in llm.catalog_requests} == {f"Bearer {board['key']}"}
    added = {m["model_url"]: m for m in body["added"]}
    assert added[f"a{t}/in-at-limit"]["input_price_per_m_tokens"] == pytest.approx(0.5)
    assert "per M tokens" in added[f"a{t}/in-at-limit"]["reason"]
    listed = board["client"].get(f"/api/leaderboards/{board['lb']}/models").json()["items"]
    assert sorted(c["model_url"] for c in listed) == sorted(added)


def test_latency_bounds_p95_from_p90_and_p99(board, llm):
    t = _tag()
    ids = [f"a{t}/p95-at", f"b{t}/p95-over", f"c{t}/p99-at", f"d{t}/p99-over", f"e{t}/none"]
    llm.catalog = [catalog_entry(i) for i in ids]
    llm.catalog_endpoints = {
        # p95 bound = p90 + (p99 - p90) * 5/9: 800 + 360 * 5/9 = 1000 ms exactly.
        ids[0]: [catalog_endpoint(500, 800, 1160)],
        ids[1]: [catalog_endpoint(500, 800, 1162), catalog_endpoint(900, 1500, 2000, "Slow")],
        ids[2]: [catalog_endpoint(100, 200, 3000)],
        ids[3]: [catalog_endpoint(100, 200, 3001)],
        ids[4]: [{**catalog_endpoint(1, 2, 3), "latency_last_30m": None}],
    }
    resp = _select(
        board, number_of_models=5, limit_latency=True, latency_p95_seconds=1.0,
        latency_p99_seconds=3.0,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert sorted(m["model_url"] for m in body["added"]) == [ids[0]]
    assert body["excluded"]["latency"] == 4 and body["latency_lookups"] == 5
    (added,) = body["added"]
    assert added["latency_p95_seconds"] == pytest.approx(1.0)
    assert added["latency_p99_seconds"] == pytest.approx(1.16)
    # Only p99 asked: the p95 estimate does not matter.
    resp = _select(board, number_of_models=3, limit_latency=True, latency_p99_seconds=3.0)
    assert sorted(m["model_url"] for m in resp.json()["added"]) == [ids[1], ids[2]]


def test_only_open_source_and_never_twice(board, llm):
    t = _tag()
    llm.catalog = [
        catalog_entry(f"a{t}/open", hugging_face_id=f"a{t}/open-weights"),
        catalog_entry(f"b{t}/closed"),
        catalog_entry(f"c{t}/open-too", hugging_face_id=f"c{t}/w"),
    ]
    resp = _select(board, number_of_models=1, only_open_source=True)
    assert resp.status_code == 200, resp.text
    first = resp.json()["added"][0]["model_url"]
    assert first in {f"a{t}/open", f"c{t}/open-too"}
    assert "open weights" in resp.json()["added"][0]["reason"]
    resp = _select(board, numberOfModels=2, onlyOpenSource=True)
    body = resp.json()
    assert [m["model_url"] for m in body["added"]] == list(
        {f"a{t}/open", f"c{t}/open-too"} - {first}
    )
    assert body["excluded"]["already_on_leaderboard"] == 1
    assert body["excluded"]["open_source"] == 1


def test_picks_spread_across_authors_newest_first(board, llm):
    t = _tag()
    llm.catalog = [
        catalog_entry(f"big{t}/m-3", created=1_760_000_003),
        catalog_entry(f"big{t}/m-2", created=1_760_000_002),
        catalog_entry(f"big{t}/m-1", created=1_760_000_001),
        catalog_entry(f"small{t}/s-1", created=1_700_000_000),
    ]
    resp = _select(board, number_of_models=3)
    assert [m["model_url"] for m in resp.json()["added"]] == [
        f"big{t}/m-3",
        f"small{t}/s-1",
        f"big{t}/m-2",
    ]


def test_models_the_workspace_has_seen_do_well_come_first(board, llm, stack, hf):
    from tests.test_runs import make_dataset, model

    client = board["client"]
    url, _ = make_dataset(hf, llm, 4)
    lb = client.post(
        "/api/leaderboards", json={**GET_LEADERBOARD, "dataset_url": url, "eval_type": "exact"}
    ).json()
    strong, weak = model(llm, 1.0), model(llm, 0.0)
    for m in (weak, strong):
        body = {"name": m.name, "platform": "OpenRouter", "model_url": m.name}
        assert client.post(f"/api/leaderboards/{lb['id']}/models", json=body).status_code == 201
    run = client.post(f"/api/leaderboards/{lb['id']}/run", json={}).json()
    assert stack.dispatcher.join(timeout=120)
    done = client.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert done["status"] == "completed", done

    t = _tag()
    llm.catalog = [
        catalog_entry(f"new{t}/newest", created=1_790_000_000),
        catalog_entry(weak.name, created=1_600_000_000),
        catalog_entry(strong.name, created=1_600_000_000),
    ]
    resp = _select(board, number_of_models=2)
    added = resp.json()["added"]
    assert [m["model_url"] for m in added] == [strong.name, weak.name]
    assert "in 1 of this workspace's recent runs" in added[0]["reason"]
    assert "placed 1.00" in added[0]["reason"] and "placed 0.00" in added[1]["reason"]


@pytest.mark.parametrize(
    "body",
    [
        {"number_of_models": 0},
        {"number_of_models": 26},
        {"limit_cost": True},
        {"limit_latency": True, "latency_p95_seconds": None},
        {"input_price_per_m_tokens": -1},
        {"numberOfModels": "many"},
        {"surprise": 1},
    ],
)
def test_bad_bodies_are_422(board, llm, body):
    llm.catalog = [catalog_entry(f"x{_tag()}/m")]
    resp = _select(board, **body)
    assert resp.status_code == 422, resp.text
    assert board["client"].get(f"/api/leaderboards/{board['lb']}/models").json()["items"] == []


def test_the_plan_limits_how_many(base_url, llm):
    person = sign_up(base_url, "free")
    client = person.client()
    client.post("/api/workspaces", json={"name": "free"})
    client.put(
        "/api/workspaces/" + client.get("/api/workspaces").json()["items"][0]["id"]
        + "/integrations/openrouter", json={"api_key": f"sk-or-v1-{secrets.token_hex(12)}"},
    )  # fmt: skip
    lb = client.post("/api/leaderboards", json=GET_LEADERBOARD).json()
    saved = list(llm.catalog)
    llm.catalog = [catalog_entry(f"m{_tag()}/{i}") for i in range(5)]
    try:
        resp = client.post(
            f"/api/leaderboards/{lb['id']}/models/auto-select", json={"number_of_models": 4}
        )
        assert resp.status_code == 402
        assert "at most 3" in detail_of(resp)
        resp = client.post(
            f"/api/leaderboards/{lb['id']}/models/auto-select", json={"number_of_models": 3}
        )
        assert resp.status_code == 200 and len(resp.json()["added"]) == 3
    finally:
        llm.catalog = saved
