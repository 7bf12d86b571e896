"""Publishing what Podium measured to the public board: figures come from the stored run, the
board ranks one entry per agent, verification, history, and the board's read count."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import create_leaderboard, detail_of
from tests.public_helpers import (
    P,
    admin_client,
    counting_reads,
    create_agent,
    create_category,
    publish,
    result_row,
    stored_run,
)
from tests.test_runs import PROMPT, add_openrouter, make_dataset, model, run_to_end


@pytest.fixture
def admin(container, base_url):
    with admin_client(container, base_url) as client:
        yield client


@pytest.fixture
def anon(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def board(anon, slug, **params):
    resp = anon.get(P, params={"category": slug, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_real_run_published_end_to_end(ws, stack, hf, llm, admin, anon):
    url, _ = make_dataset(hf, llm, 12)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    lm = add_openrouter(ws, lb["id"], model(llm, 0.75))
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    (row,) = run["results"]
    sha = run["dataset_version"]["content_sha256"]
    cat = create_category(
        admin, benchmark_suite="evals-12", benchmark_dataset_url=url, benchmark_dataset_sha256=sha
    )
    agent = create_agent(ws.http, name="GPT-4 Turbo", organization="OpenAI")
    # Figures in the body are not the request's to give.
    forged = publish(ws.http, run["id"], cat["slug"], agent["id"], score=100)
    assert forged.status_code == 422
    resp = publish(
        ws.http, run["id"], cat["slug"], agent["id"], opt_in_public=True, notes="default config"
    )
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert set(out) == {
        "id",
        "agent_id",
        "category_slug",
        "score",
        "rank",
        "is_new_record",
        "published_at",
    }
    assert out["score"] == pytest.approx(row["score"] * 100, abs=1e-3)
    assert out["rank"] == 1 and out["is_new_record"] is True and isinstance(out["id"], int)
    (entry,) = board(anon, cat["slug"])["entries"]
    assert entry["agent_name"] == "GPT-4 Turbo" and entry["organization"] == "OpenAI"
    assert entry["total_runs"] == row["n"] == 12
    # Percentages, rounded to 4 decimals.
    assert entry["score_std"] == pytest.approx(row["score_std"] * 100, abs=1e-3)
    assert entry["ci_low"] == pytest.approx(row["ci_low"] * 100, abs=1e-3)
    assert entry["ci_high"] == pytest.approx(row["ci_high"] * 100, abs=1e-3)
    assert entry["success_rate"] == pytest.approx(row["success_rate"])
    mine = ws.http.get(f"{P}/my-results").json()
    assert mine["total"] == 1 and mine["items"][0]["suite_execution_id"] == run["id"]
    assert mine["items"][0]["leaderboard_model_id"] == lm
    again = publish(ws.http, run["id"], cat["slug"], agent["id"])
    assert again.status_code == 409
    assert detail_of(again) == "Result already published for this execution"


def test_only_completed_runs_of_the_callers_workspace(ws, make_workspace, admin, anon):
    cat = create_category(admin)
    agent = create_agent(ws.http)
    running = stored_run(ws.container, ws.id, status="running")
    resp = publish(ws.http, running, cat["slug"], agent["id"])
    assert resp.status_code == 400
    assert detail_of(resp) == f"Suite execution {running} has not completed"
    other = make_workspace()
    theirs = stored_run(other.container, other.id)
    resp = publish(ws.http, theirs, cat["slug"], agent["id"])
    assert resp.status_code == 404
    resp = publish(ws.http, "run_missing", cat["slug"], agent["id"])
    assert resp.status_code == 404
    resp = publish(ws.http, stored_run(ws.container, ws.id), "invalid-slug", agent["id"])
    assert resp.status_code == 404 and detail_of(resp) == "Category 'invalid-slug' not found"
    resp = publish(ws.http, 123, cat["slug"], agent["id"])  # the spec's integer example
    assert resp.status_code == 404 and "Suite execution 123" in detail_of(resp)
    assert board(anon, cat["slug"])["total_entries"] == 0
    assert ws.http.get(f"{P}/my-results").json()["total"] == 0
    # opt_in_public: false publishes nothing.
    fine = stored_run(ws.container, ws.id)
    resp = publish(ws.http, fine, cat["slug"], agent["id"], opt_in_public=False)
    assert resp.status_code == 422
    # A retired category takes no new results.
    admin.patch(f"{P}/categories/{cat['slug']}", json={"is_active": False})
    assert publish(ws.http, fine, cat["slug"], agent["id"]).status_code == 400


def test_a_run_of_several_models_names_whose_result(ws, admin, anon):
    cat = create_category(admin)
    agent = create_agent(ws.http)
    run = stored_run(
        ws.container, ws.id, results=[result_row("lm_a", 0.9), result_row("lm_b", 0.4)]
    )
    resp = publish(ws.http, run, cat["slug"], agent["id"])
    assert resp.status_code == 422 and "leaderboard_model_id" in detail_of(resp)
    resp = publish(ws.http, run, cat["slug"], agent["id"], leaderboard_model_id="lm_zz")
    assert resp.status_code == 422
    resp = publish(ws.http, run, cat["slug"], agent["id"], leaderboard_model_id="lm_b")
    assert resp.status_code == 201 and resp.json()["score"] == pytest.approx(40.0)
    # Each (run, model) once: the other model of the same run is its own result.
    resp = publish(ws.http, run, cat["slug"], agent["id"], leaderboard_model_id="lm_a")
    assert resp.status_code == 201 and resp.json()["score"] == pytest.approx(90.0)
    assert (
        publish(ws.http, run, cat["slug"], agent["id"], leaderboard_model_id="lm_b").status_code
        == 409
    )
    # One entry per agent: its best.
    (entry,) = board(anon, cat["slug"])["entries"]
    assert entry["score"] == pytest.approx(90.0)


def test_a_pinned_category_takes_only_runs_on_its_data(ws, admin, anon):
    pinned = "ab" * 32
    url = "https://huggingface.co/datasets/acme/x/resolve/main/eval.jsonl"
    cat = create_category(admin, benchmark_dataset_url=url, benchmark_dataset_sha256=pinned)
    agent = create_agent(ws.http)
    other = stored_run(ws.container, ws.id, sha="cd" * 32, url=url)
    resp = publish(ws.http, other, cat["slug"], agent["id"])
    assert resp.status_code == 400
    assert "other data" in detail_of(resp) and pinned in detail_of(resp)
    moved = stored_run(ws.container, ws.id, sha=pinned, url=url + "?x")
    assert publish(ws.http, moved, cat["slug"], agent["id"]).status_code == 400
    same = stored_run(ws.container, ws.id, sha=pinned, url=url)
    assert publish(ws.http, same, cat["slug"], agent["id"]).status_code == 201
    assert board(anon, cat["slug"])["total_entries"] == 1
    # The pin cannot move under published results.
    resp = admin.patch(f"{P}/categories/{cat['slug']}", json={"benchmark_dataset_sha256": "e" * 64})
    assert resp.status_code == 409


def test_the_board_ranks_agents_and_says_where_intervals_overlap(ws, admin, anon):
    cat = create_category(admin)
    slug = cat["slug"]
    a, b, c = (create_agent(ws.http, name=n) for n in ("A", "B", "C"))

    def put(agent, score, half=0.02):
        run = stored_run(ws.container, ws.id, results=[result_row("lm", score, half_width=half)])
        resp = publish(ws.http, run, slug, agent["id"])
        assert resp.status_code == 201, resp.text
        return resp.json()

    first = put(a, 0.70)
    assert first["rank"] == 1 and first["is_new_record"] is True
    second = put(b, 0.80)
    assert second["rank"] == 1 and second["is_new_record"] is True
    third = put(c, 0.79, half=0.05)
    assert third["rank"] == 2 and third["is_new_record"] is False
    worse = put(a, 0.60)  # not A's best: the board keeps A's 70
    assert worse["rank"] == 3 and worse["is_new_record"] is False
    out = board(anon, slug)
    assert [(e["agent_name"], e["rank"]) for e in out["entries"]] == [("B", 1), ("C", 2), ("A", 3)]
    assert [e["overlaps_above"] for e in out["entries"]] == [False, True, False]
    assert out["total_entries"] == 3
    assert board(anon, slug, limit=1)["entries"][0]["agent_name"] == "B"
    listed = anon.get(f"{P}/categories", params={"active_only": False}).json()["items"]
    assert next(i for i in listed if i["slug"] == slug)["entry_count"] == 3
    profile = anon.get(f"{P}/agents/{c['id']}").json()
    assert profile["results_by_category"] == [
        {
            "category_slug": slug,
            "category_name": "Coding Tasks",
            "rank": 2,
            "score": pytest.approx(79.0),
            "total_runs": 100,
        }
    ]
    # A renamed agent is renamed on the board, in the same transaction.
    ws.http.patch(f"{P}/agents/{c['id']}", json={"name": "C2", "organization": "Org2"})
    entry = board(anon, slug)["entries"][1]
    assert (entry["agent_name"], entry["organization"]) == ("C2", "Org2")


def test_verification_of_results_and_verified_only(ws, admin, anon):
    cat = create_category(admin)
    slug = cat["slug"]
    a, b = create_agent(ws.http, name="A"), create_agent(ws.http, name="B")
    publish(
        ws.http, stored_run(ws.container, ws.id, results=[result_row("m", 0.9)]), slug, a["id"]
    ).json()
    rb = publish(
        ws.http, stored_run(ws.container, ws.id, results=[result_row("m", 0.5)]), slug, b["id"]
    ).json()
    assert board(anon, slug, verified_only=True)["entries"] == []
    resp = admin.post(f"{P}/results/{rb['id']}/verify")
    assert resp.status_code == 200, resp.text
    assert resp.json()["is_verified"] is True and resp.json()["verification_date"]
    again = admin.post(f"{P}/results/{rb['id']}/verify").json()
    assert again["verification_date"] == resp.json()["verification_date"]  # once
    verified = board(anon, slug, verified_only=True)
    assert [(e["agent_name"], e["rank"]) for e in verified["entries"]] == [("B", 1)]
    assert verified["total_entries"] == 1
    full = board(anon, slug)["entries"]
    assert [(e["agent_name"], e["is_verified"]) for e in full] == [("A", False), ("B", True)]
    assert full[1]["verification_date"] == resp.json()["verification_date"]
    assert admin.post(f"{P}/results/{10**15}/verify").status_code == 404


def test_history_by_day(ws, admin, anon):
    cat = create_category(admin)
    slug = cat["slug"]
    a, b = create_agent(ws.http, name="A"), create_agent(ws.http, name="B")
    publish(ws.http, stored_run(ws.container, ws.id, results=[result_row("m", 0.6)]), slug, a["id"])
    publish(ws.http, stored_run(ws.container, ws.id, results=[result_row("m", 0.8)]), slug, b["id"])
    today = datetime.now(UTC).date().isoformat()
    out = anon.get(f"{P}/history/{slug}").json()
    assert out["category"] == slug
    assert out["period_end"] == f"{today}T00:00:00Z"
    start = datetime.fromisoformat(out["period_start"].replace("Z", "+00:00"))
    assert (datetime.fromisoformat(out["period_end"].replace("Z", "+00:00")) - start).days == 30
    trends = {t["agent_name"]: t["data_points"] for t in out["trends"]}
    # The day's points are the board after the day's last change.
    assert trends == {
        "B": [{"date": today, "score": pytest.approx(80.0), "rank": 1}],
        "A": [{"date": today, "score": pytest.approx(60.0), "rank": 2}],
    }
    only = anon.get(f"{P}/history/{slug}", params={"agent_ids": a["id"], "days": 365}).json()
    assert [t["agent_id"] for t in only["trends"]] == [a["id"]]
    both = anon.get(f"{P}/history/{slug}", params=[("agent_ids", a["id"]), ("agent_ids", b["id"])])
    assert {t["agent_id"] for t in both.json()["trends"]} == {a["id"], b["id"]}
    comma = anon.get(f"{P}/history/{slug}", params={"agent_ids": f"{a['id']},{b['id']}"})
    assert len(comma.json()["trends"]) == 2
    for bad in ({"days": 0}, {"days": 366}, {"agent_ids": "x"}, {"agent_ids": "-1"}):
        assert anon.get(f"{P}/history/{slug}", params=bad).status_code == 422, bad
    assert anon.get(f"{P}/history/invalid-slug").status_code == 404


def deliver(http: httpx.Client, run: Any, slug: str, agent_id: int) -> int:
    """One delivery of a publish, as a queue makes it: a 503 (contention) is tried again after
    its Retry-After, a few times; the final status."""
    for _ in range(5):
        resp = publish(http, run, slug, agent_id)
        if resp.status_code != 503:
            return resp.status_code
        time.sleep(float(resp.headers.get("Retry-After", "1")))
    return resp.status_code


def test_duplicate_publishes_interleaved_store_one_result(ws, admin, anon):
    cat = create_category(admin)
    agent = create_agent(ws.http)
    # Racing transactions wait on the emulator's locks (seconds each on a busy machine): the
    # deliveries get a client that waits as long as Cloud Run would.
    http = httpx.Client(base_url=str(ws.http.base_url), headers=ws.http.headers, timeout=120)
    for _ in range(3):  # rounds of four racing deliveries of one publish
        run = stored_run(ws.container, ws.id)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda r: deliver(http, r, cat["slug"], agent["id"]), [run] * 4))
        assert sorted(codes) == [201] + [409] * 3
    http.close()
    assert board(anon, cat["slug"])["total_entries"] == 1
    assert ws.http.get(f"{P}/my-results").json()["total"] == 3


def test_my_results_are_the_workspaces_own_and_paged(ws, make_workspace, admin):
    cat = create_category(admin)
    agent = create_agent(ws.http)
    for _ in range(3):
        publish(ws.http, stored_run(ws.container, ws.id), cat["slug"], agent["id"])
    page = ws.http.get(f"{P}/my-results", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    times = [i["published_at"] for i in page["items"]]
    assert times == sorted(times, reverse=True)
    assert make_workspace().http.get(f"{P}/my-results").json()["total"] == 0
    assert ws.http.get(f"{P}/my-results", params={"limit": 101}).status_code == 422


def test_the_board_is_at_most_three_reads_whatever_its_size(ws, admin, anon, container):
    """Many agents on one board: the public read stays one document."""
    cat = create_category(admin)
    agents = [create_agent(ws.http, name=f"Agent {i:03d}") for i in range(60)]
    for i, agent in enumerate(agents):
        run = stored_run(ws.container, ws.id, results=[result_row("m", 0.2 + i / 100)])
        assert publish(ws.http, run, cat["slug"], agent["id"]).status_code == 201
    for params in ({}, {"verified_only": True}, {"limit": 100}):
        with counting_reads(container.db) as reads:
            out = board(anon, cat["slug"], **params)
        assert reads.reads <= 3 and reads.calls <= 3, params
    assert out["total_entries"] == 60 and len(out["entries"]) == 60
    assert [e["rank"] for e in out["entries"]] == list(range(1, 61))
    assert out["entries"][0]["agent_name"] == "Agent 059"
