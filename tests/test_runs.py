"""Runs end to end: the real gateway, the local dispatcher, the emulator, and stand-ins for
Hugging Face and the model providers. Expected scores come from what the stand-ins imply."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from shared.domain.scoring import JUDGE_RESPONSE_FORMAT
from shared.domain.statistics import summarize
from tests.conftest import create_leaderboard, detail_of
from tests.standins.openai_server import (
    Failures,
    StandinModel,
    answers_correctly,
    count_tokens,
    expected_cost,
)

PROMPT = "Answer with the code only.\n\nQuestion: {input}"


def make_dataset(
    hf, llm, n: int, *, extra_lines: list[str] | None = None
) -> tuple[str, dict[str, str]]:
    """A JSONL file of n fresh questions on the HF stand-in, registered with the model stand-in."""
    tag = uuid.uuid4().hex[:8]
    rows = {f"Q{tag}x{i}": f"A{tag}x{i}" for i in range(n)}
    lines = [json.dumps({"input": q, "expected": a}) for q, a in rows.items()] + (extra_lines or [])
    url = hf.add_file(f"acme/evals-{tag}", "eval.jsonl", "\n".join(lines) + "\n")
    llm.dataset.update(rows)
    return url, rows


def model(llm, accuracy: float, **kw: Any) -> StandinModel:
    m = StandinModel(
        name=f"lab{uuid.uuid4().hex[:6]}/m-{int(accuracy * 100)}", accuracy=accuracy, **kw
    )
    llm.add_model(m)
    return m


def add_openrouter(ws, lb_id: str, m: StandinModel) -> str:
    resp = ws.http.post(
        f"/api/leaderboards/{lb_id}/models",
        json={"name": m.name, "platform": "OpenRouter", "model_url": m.name},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def run_to_end(ws, stack, lb_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/run", json=body or {})
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert run["status"] == "queued"
    assert stack.dispatcher.join(timeout=120), "the dispatcher did not go idle"
    final = ws.http.get(f"/api/leaderboards/{lb_id}/runs/{run['id']}").json()
    return dict(final)


def expected_scores(
    models: dict[str, StandinModel], rows: dict[str, str]
) -> dict[str, list[float | None]]:
    return {lm: [1.0 if answers_correctly(m, q) else 0.0 for q in rows] for lm, m in models.items()}


def test_exact_run_scores_and_ranks_what_the_standins_imply(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 23)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    models = {}
    for acc in (0.9, 0.55, 0.15):
        m = model(llm, acc, latency_ms=5)
        models[add_openrouter(ws, lb["id"], m)] = m
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    assert run["progress"] == {"done": 69, "total": 69, "cells_done": 15, "cells_total": 15}
    expected = expected_scores(models, rows)
    summaries = {s.model_id: s for s in summarize(expected)}
    by_id = {r["leaderboard_model_id"]: r for r in run["results"]}
    for lm, m in models.items():
        r, s = by_id[lm], summaries[lm]
        assert r["score"] == pytest.approx(sum(expected[lm]) / 23)
        assert (r["n"], r["rank"], r["errors"], r["success_rate"]) == (23, s.rank, 0, 1.0)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((s.ci_low, s.ci_high))
        answers = [llm.answer_for(m.name, q) for q in rows]
        prompts = [count_tokens(PROMPT.replace("{input}", q)) for q in rows]
        assert r["tokens_in"] == sum(prompts)
        assert r["tokens_out"] == sum(count_tokens(a) for a in answers)
        assert r["cost_usd"] == pytest.approx(
            sum(expected_cost(m, p, count_tokens(a)) for p, a in zip(prompts, answers, strict=True))
        )
        assert r["latency_ms"]["p50"] is not None
    assert [r["rank"] for r in run["results"]] == sorted(r["rank"] for r in run["results"])
    assert run["dataset_version"]["rows"] == 23 and run["dataset_version"]["bad_rows"] == 0


def judge_model(llm, name: str | None = None) -> StandinModel:
    m = StandinModel(name=name or f"judges{uuid.uuid4().hex[:6]}/judge", judge=True)
    llm.add_model(m)
    return m


def test_judge_run_scores_with_the_configured_judge(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 12)
    j = judge_model(llm)
    lb = create_leaderboard(
        ws,
        dataset_url=url,
        system_prompt=PROMPT,
        eval_type="judge",
        judge_provider="OpenRouter",
        judge_model=j.name,
    )
    models = {add_openrouter(ws, lb["id"], m): m for m in (model(llm, 0.8), model(llm, 0.3))}
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    assert run["judge"] == {"provider": "OpenRouter", "model": j.name, "auto": False}
    expected = expected_scores(models, rows)
    for r in run["results"]:
        assert r["score"] == pytest.approx(sum(expected[r["leaderboard_model_id"]]) / 12)
        assert r["n"] == 12 and r["unscored"] == 0
    judged = [r for r in llm.requests if json.loads(r.body).get("model") == j.name]
    # Every distinct (input, answer) was judged; identical ones may be served by the cache
    # when two models gave the same answer.
    pairs = {(q, llm.answer_for(m.name, q)) for m in models.values() for q in rows}
    assert len({json.dumps(json.loads(r.body)["messages"]) for r in judged}) == len(pairs)
    assert len(pairs) <= len(judged) <= 24
    first = json.loads(judged[0].body)["messages"]
    assert any("rubric" in m["content"].lower() or "score" in m["content"].lower() for m in first)
    # Greedy, and held to the verdict's schema where the model supports structured outputs.
    for r in judged:
        body = json.loads(r.body)
        assert body["temperature"] == 0
        assert body["response_format"] == JUDGE_RESPONSE_FORMAT


def test_auto_judge_is_chosen_outside_the_candidates_families_and_recorded(ws, stack, hf, llm):
    from shared.domain.scoring import JUDGE_PREFERENCES

    url, _ = make_dataset(hf, llm, 4)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, judge_provider=None, judge_model=None
    )
    assert lb["judge_auto_decide"] is True
    first_family = JUDGE_PREFERENCES[0].split("/")[0]
    same_family = StandinModel(
        name=f"{first_family}/candidate-{uuid.uuid4().hex[:4]}", accuracy=1.0
    )
    llm.add_model(same_family)
    add_openrouter(ws, lb["id"], same_family)
    judge_model(llm, JUDGE_PREFERENCES[1])
    run = run_to_end(ws, stack, lb["id"])
    assert run["judge"] == {"provider": "OpenRouter", "model": JUDGE_PREFERENCES[1], "auto": True}
    assert run["results"][0]["score"] == 1.0


def test_unparseable_verdicts_are_unscored_not_zero(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 5)
    j = judge_model(llm)
    original = llm.judge_fn
    llm.judge_fn = lambda messages: "I think it is pretty good!"
    try:
        lb = create_leaderboard(
            ws,
            dataset_url=url,
            system_prompt=PROMPT,
            judge_provider="OpenRouter",
            judge_model=j.name,
        )
        add_openrouter(ws, lb["id"], model(llm, 1.0))
        run = run_to_end(ws, stack, lb["id"])
    finally:
        llm.judge_fn = original
    r = run["results"][0]
    assert (r["score"], r["n"], r["unscored"], r["errors"]) == (None, 0, 5, 0)
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples",
        params={"model_id": r["leaderboard_model_id"]},
    ).json()
    assert all(s["score"] is None and s["output"] for s in samples["items"])


def test_a_candidates_timeout_replaces_the_deployments(ws, stack, hf, llm):
    # Every call to this model takes 3 s; the suite's PROVIDER_TIMEOUT_SECONDS is 2.
    slow = model(llm, 1.0, latency_ms=3000)
    url, _ = make_dataset(hf, llm, 2)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    patient = {"name": "patient", "platform": "OpenRouter", "model_url": slow.name,
               "parameters": {"timeout_seconds": 10}}  # fmt: skip
    assert ws.http.post(f"/api/leaderboards/{lb['id']}/models", json=patient).status_code == 201
    impatient = add_openrouter(ws, lb["id"], slow)
    # Fresh calls: the two candidates share cache keys (the timeout is not part of them).
    run = run_to_end(ws, stack, lb["id"], {"use_cache": False})
    assert run["status"] == "completed", run
    by_errors = sorted((r["errors"], r["n"], r["leaderboard_model_id"]) for r in run["results"])
    assert by_errors[0][:2] == (0, 2)  # waited for: both answered
    assert by_errors[1] == (2, 0, impatient)  # cut off at 2 s on every attempt
    # A call option, not an answer-shaping parameter: no model sees it.
    bodies = [
        json.loads(r.body) for r in llm.requests if json.loads(r.body).get("model") == slow.name
    ]
    assert bodies and not any("timeout_seconds" in b for b in bodies)


def test_flaky_and_failing_providers(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 10)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    inputs = list(rows)
    flaky = {
        "rate_limited": model(llm, 0.7, failures=Failures("rate_limit", attempts=2, retry_after=1)),
        "bad_gateway": model(llm, 0.6, failures=Failures("bad_gateway", attempts=3)),
        "slow_once": model(llm, 0.5, failures=Failures("timeout", attempts=1, hang_seconds=3)),
    }
    partly_broken = model(llm, 1.0, failures=Failures("permanent", inputs=frozenset(inputs[:3])))
    dead = model(llm, 1.0, failures=Failures("bad_gateway", attempts=10_000))
    ids = {name: add_openrouter(ws, lb["id"], m) for name, m in flaky.items()}
    ids["partly_broken"] = add_openrouter(ws, lb["id"], partly_broken)
    ids["dead"] = add_openrouter(ws, lb["id"], dead)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    by_id = {r["leaderboard_model_id"]: r for r in run["results"]}
    # Transient failures were retried until they passed: scores as if nothing happened.
    for name, m in flaky.items():
        r = by_id[ids[name]]
        assert (r["errors"], r["n"]) == (0, 10), (name, r)
        assert r["score"] == pytest.approx(sum(answers_correctly(m, q) for q in rows) / 10)
    # Permanent 400s are recorded as errors and not scored as wrong.
    broken = by_id[ids["partly_broken"]]
    assert (broken["errors"], broken["n"], broken["score"], broken["success_rate"]) == (
        3,
        7,
        1.0,
        0.7,
    )
    # Still failing after the queue's last delivery: errors; a model that never answered ranks last.
    dead_r = by_id[ids["dead"]]
    assert (dead_r["n"], dead_r["errors"], dead_r["score"], dead_r["success_rate"]) == (
        0,
        10,
        None,
        0.0,
    )
    assert dead_r["rank"] == max(r["rank"] for r in run["results"])
    assert dead_r["rank"] > max(r["rank"] for r in run["results"] if r["n"] > 0)
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples",
        params={"model_id": ids["partly_broken"]},
    ).json()["items"]
    assert [s["error"] is not None for s in samples] == [True] * 3 + [False] * 7
    assert "400" in samples[0]["error"] or "refuses" in samples[0]["error"]


def test_duplicate_deliveries_change_nothing(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 8)
    j = judge_model(llm)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, judge_provider="OpenRouter", judge_model=j.name
    )
    for acc in (0.9, 0.4):
        add_openrouter(ws, lb["id"], model(llm, acc))
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed"
    calls = len(llm.requests)
    db = ws.container.db
    run_ref = (
        db.collection("workspaces").document(ws.id).collection("leaderboards").document(lb["id"])
        .collection("runs").document(run["id"])
    )  # fmt: skip
    cells_before = {c.id: c.to_dict() for c in run_ref.collection("cells").stream()}
    # Deliver every task of this run again, as Cloud Tasks may.
    delivered = {a.name for a in stack.dispatcher.stats().attempts}
    for name in delivered:
        stack.dispatcher.redeliver(name)
    assert stack.dispatcher.join(timeout=60)
    assert len(llm.requests) == calls, "a duplicate delivery called a model again"
    again = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert again["results"] == run["results"] and again["status"] == "completed"
    assert again["finished_at"] == run["finished_at"]
    assert {c.id: c.to_dict() for c in run_ref.collection("cells").stream()} == cells_before


def test_cancelled_run_stops(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 60)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    # 60 calls at 400 ms, 16 in flight: ~1.6 s from the first call to the last.
    slow = model(llm, 1.0, latency_ms=400)
    add_openrouter(ws, lb["id"], slow)
    before = len(llm.requests)
    run = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={}).json()
    deadline = time.monotonic() + 30
    while (
        ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()["status"] == "queued"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = ws.http.post(f"/api/leaderboards/{lb['id']}/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert stack.dispatcher.join(timeout=60)
    final = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert final["status"] == "cancelled" and final["results"] == []
    assert len(llm.requests) - before < 60, "every sample was still called after the cancel"
    again = ws.http.post(f"/api/leaderboards/{lb['id']}/runs/{run['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in detail_of(again)
    # The leaderboard is free to run again.
    assert ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={}).status_code == 202
    assert stack.dispatcher.join(timeout=60)


def test_response_cache_serves_identical_calls_and_can_be_skipped(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 6)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 0.5))
    first = run_to_end(ws, stack, lb["id"])
    assert first["cache_hits"] == 0
    calls = len(llm.requests)
    second = run_to_end(ws, stack, lb["id"])
    assert second["cache_hits"] == 6 and len(llm.requests) == calls
    assert [r["score"] for r in second["results"]] == [r["score"] for r in first["results"]]
    assert second["results"][0]["cost_usd"] == first["results"][0]["cost_usd"]
    fresh = run_to_end(ws, stack, lb["id"], {"use_cache": False})
    assert fresh["cache_hits"] == 0 and len(llm.requests) == calls + 6


def test_dataset_problems(ws, stack, hf, llm):
    # Bad rows are counted with their line numbers, not fatal.
    url, _ = make_dataset(hf, llm, 4, extra_lines=["{not json", json.dumps({"no_input": 1}), "[1]"])
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    run = run_to_end(ws, stack, lb["id"])
    version = run["dataset_version"]
    assert (version["rows"], version["bad_rows"]) == (4, 3)
    assert [b["line"] for b in version["bad_row_examples"]] == [5, 6, 7]
    assert version["content_sha256"] and version["revision"]
    # An unreachable file fails the run with the HTTP status.
    missing = hf.url_for("acme/nothing-here", "eval.jsonl")
    lb2 = create_leaderboard(ws, dataset_url=missing, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb2["id"], model(llm, 1.0))
    failed = run_to_end(ws, stack, lb2["id"])
    assert failed["status"] == "failed" and "404" in failed["reason"]
    assert ws.http.post(f"/api/leaderboards/{lb2['id']}/run", json={}).status_code == 202
    assert stack.dispatcher.join(timeout=60)


def test_schedule_dataset_limit_bounds_the_run(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 12)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    limit = {
        "version": 2,
        "dataset": {"mode": "LIMIT", "limit": {"rows": 5, "algorithm": "LAST_N"}},
    }
    assert ws.http.patch(f"/api/leaderboards/{lb['id']}", json=limit).status_code == 200
    lm = add_openrouter(ws, lb["id"], model(llm, 1.0))
    run = run_to_end(ws, stack, lb["id"])
    assert run["dataset_version"]["rows_used"] == 5 and run["progress"]["total"] == 5
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
    ).json()
    assert [s["input"] for s in samples["items"]] == list(rows)[-5:]


def test_run_guards(ws, free_ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 3)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert resp.status_code == 409 and "no candidate models" in detail_of(resp)
    lm = add_openrouter(ws, lb["id"], model(llm, 1.0, latency_ms=200))
    bad = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={"model_ids": [lm, "lm_nope"]})
    assert bad.status_code == 422 and "lm_nope" in detail_of(bad)
    assert (
        ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={"model_ids": []}).status_code == 422
    )
    assert (
        ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={"run_source": "vibes"}).status_code
        == 422
    )
    first = ws.http.post(
        f"/api/leaderboards/{lb['id']}/run", json={"model_ids": [lm], "run_source": "api"}
    )
    assert first.status_code == 202 and first.json()["run_source"] == "api"
    second = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert second.status_code == 409 and first.json()["id"] in detail_of(second)
    concurrent = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={"allow_concurrent": True})
    assert concurrent.status_code == 202
    assert stack.dispatcher.join(timeout=60)
    # (Human leaderboards run since issue 12: tests/test_human_review.py.)
    push = ws.http.post(
        "/api/leaderboards", json={"name": "p", "system_prompt": "{input}", "dataset_type": "PUSH"}
    ).json()
    add_openrouter(ws, push["id"], model(llm, 1.0))
    resp = ws.http.post(f"/api/leaderboards/{push['id']}/run", json={})
    assert resp.status_code == 409 and "no data yet" in detail_of(resp)
    assert ws.http.post("/api/leaderboards/lb_missing/run", json={}).status_code == 404
    # Scope: leaderboards:run.
    reader = ws.client(ws.token_with("leaderboards:read", "leaderboards:write"))
    resp = reader.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert resp.status_code == 403 and detail_of(resp) == "Permission 'leaderboards:run' required"


def test_idempotent_run_request(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 3)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    key = {"Idempotency-Key": "nightly-2026-11-23"}
    a = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={}, headers=key)
    b = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={}, headers=key)
    assert (a.status_code, b.status_code) == (202, 202)
    assert a.json()["id"] == b.json()["id"] and b.headers["Idempotent-Replayed"] == "true"
    assert stack.dispatcher.join(timeout=60)
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/runs").json()["total"] == 1


def test_runs_listing_detail_and_samples(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 7)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    good = model(llm, 1.0)
    lm = add_openrouter(ws, lb["id"], good)
    runs = [run_to_end(ws, stack, lb["id"]) for _ in range(3)]
    page = ws.http.get(f"/api/leaderboards/{lb['id']}/runs", params={"limit": 2}).json()
    assert page["total"] == 3 and [r["id"] for r in page["items"]] == [runs[2]["id"], runs[1]["id"]]
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}/runs", params={"limit": 101}).status_code == 422
    )
    detail = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert [r["id"] for r in detail["recent_runs"]] == [r["id"] for r in reversed(runs)]
    assert detail["recent_runs"][0]["winner"]["leaderboard_model_id"] == lm
    base = f"/api/leaderboards/{lb['id']}/runs/{runs[0]['id']}/samples"
    all_samples = ws.http.get(base, params={"model_id": lm}).json()
    assert all_samples["total"] == 7
    assert [s["input"] for s in all_samples["items"]] == list(rows)
    assert all(s["output"] == rows[s["input"]] and s["score"] == 1.0 for s in all_samples["items"])
    middle = ws.http.get(base, params={"model_id": lm, "limit": 3, "offset": 4}).json()
    assert [s["index"] for s in middle["items"]] == [4, 5, 6]
    assert ws.http.get(base, params={"model_id": "lm_other"}).status_code == 422
    assert ws.http.get(base).status_code == 422
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/runs/run_missing").status_code == 404


def test_ranking_winner_promotes_only_on_fresh_evidence_beyond_the_margin(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 40)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"chosen_model_strategy": "ranking_winner"})
    strong = add_openrouter(ws, lb["id"], model(llm, 0.95))
    weak = add_openrouter(ws, lb["id"], model(llm, 0.1))
    run = run_to_end(ws, stack, lb["id"])
    assert run["promotion"]["promoted"] is True and run["promotion"]["chosen"] == strong
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}").json()["chosen_leaderboard_model_id"] == strong
    )
    # A scheduled re-run served from the response cache adds no evidence and changes nothing,
    # even after the choice is set by hand to the weak model.
    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"chosen_leaderboard_model_id": weak})
    cached = run_to_end(ws, stack, lb["id"], {"run_source": "schedule"})
    assert cached["cache_hits"] == 80
    assert cached["promotion"]["promoted"] is False and cached["promotion"]["chosen"] == weak
    assert cached["promotion"]["reason"] == (
        "no fresh answers in this run: cached answers add no evidence"
    )
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}").json()["chosen_leaderboard_model_id"] == weak
    )
    # Fresh answers with a real margin promote, and the run says what the decision saw.
    fresh = run_to_end(ws, stack, lb["id"], {"run_source": "schedule", "use_cache": False})
    promotion = fresh["promotion"]
    assert (promotion["previous"], promotion["chosen"], promotion["promoted"]) == (
        weak,
        strong,
        True,
    )
    assert promotion["reason"].startswith("better than the chosen model by ")
    assert (promotion["margin"], promotion["min_paired_n"], promotion["alpha"]) == (0.02, 30, 0.025)
    (comparison,) = promotion["comparisons"]
    assert comparison["leaderboard_model_id"] == strong
    assert comparison["run"]["n"] == 40 and comparison["pooled"]["runs"] == 1
    assert (
        0 < comparison["run"]["ci_low"] < comparison["run"]["diff"] < comparison["run"]["ci_high"]
    )
    assert comparison["significant"] and comparison["meets_margin"]
    assert comparison["p_spent"] <= comparison["holm_level"]
    assert comparison["reason"] == "promoted"
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}").json()["chosen_leaderboard_model_id"] == strong
    )
    rows = {r["leaderboard_model_id"]: r for r in fresh["results"]}
    assert rows[strong]["rank"] == 1 and rows[weak]["rank"] == 2
    assert rows[strong]["rank_rule"] == "paired_holm" and rows[strong]["ci_method"] == "wilson"
    assert rows[weak]["score_all"] == rows[weak]["score"] and rows[weak]["n_all"] == 40


def test_near_tie_does_not_flap_the_chosen_model(ws, stack, hf, llm):
    # Fixed names and inputs: the stand-in's answers, and so the decision, are reproducible.
    rows = {f"twinQ{i}": f"twinA{i}" for i in range(40)}
    llm.dataset.update(rows)
    url = hf.add_file(
        "acme/twins",
        "eval.jsonl",
        "\n".join(json.dumps({"input": q, "expected": a}) for q, a in rows.items()),
    )
    a, b = StandinModel("twins/a", accuracy=0.6), StandinModel("twins/b", accuracy=0.62)
    llm.add_model(a)
    llm.add_model(b)
    lb = create_leaderboard(
        ws,
        dataset_url=url,
        system_prompt=PROMPT,
        eval_type="exact",
        eval_metadata={"promotion_margin": 0.05, "promotion_min_paired_n": 40},
    )
    ids = {add_openrouter(ws, lb["id"], m): m for m in (a, b)}
    chosen = next(iter(ids))
    ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={"chosen_model_strategy": "ranking_winner", "chosen_leaderboard_model_id": chosen},
    )
    # Scheduled re-runs on fresh answers pool their evidence; noise never accumulates into a win.
    for look in (1, 2, 3):
        run = run_to_end(ws, stack, lb["id"], {"run_source": "schedule", "use_cache": False})
        assert run["promotion"]["promoted"] is False
        assert (run["promotion"]["margin"], run["promotion"]["min_paired_n"]) == (0.05, 40)
        (comparison,) = run["promotion"]["comparisons"]
        assert comparison["pooled"]["runs"] == look and comparison["pooled"]["n"] == 40 * look
        assert comparison["reason"].startswith(("not significant", "significant but below"))
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}").json()["chosen_leaderboard_model_id"] == chosen
    )


def test_duplicate_finalize_adds_no_promotion_evidence(ws, stack, hf, llm):
    rows = {f"dupQ{i}": f"dupA{i}" for i in range(40)}
    llm.dataset.update(rows)
    url = hf.add_file(
        "acme/dups",
        "eval.jsonl",
        "\n".join(json.dumps({"input": q, "expected": a}) for q, a in rows.items()),
    )
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    ids = []
    for m in (StandinModel("dups/a", accuracy=0.5), StandinModel("dups/b", accuracy=0.5)):
        llm.add_model(m)
        ids.append(add_openrouter(ws, lb["id"], m))
    ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={"chosen_model_strategy": "ranking_winner", "chosen_leaderboard_model_id": ids[0]},
    )
    run = run_to_end(ws, stack, lb["id"], {"use_cache": False})
    assert run["status"] == "completed"
    lb_ref = (
        ws.container.db.collection("workspaces").document(ws.id)
        .collection("leaderboards").document(lb["id"])
    )  # fmt: skip
    evidence = lb_ref.get().to_dict()["promotion_evidence"]
    assert evidence["incumbent"] in ids
    for name in {a.name for a in stack.dispatcher.stats().attempts}:
        stack.dispatcher.redeliver(name)
    assert stack.dispatcher.join(timeout=60)
    assert lb_ref.get().to_dict()["promotion_evidence"] == evidence
    again = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert again["promotion"] == run["promotion"]


def test_private_dataset_uses_the_workspace_hf_token(ws, stack, hf, llm):
    import subprocess
    import sys

    from tests.test_auth import ROOT

    url, _ = make_dataset(hf, llm, 3)
    repo = url.split("/datasets/")[1].split("/resolve/")[0]
    hf.private[repo] = "hf_workspace_secret_token"
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    denied = run_to_end(ws, stack, lb["id"])
    assert denied["status"] == "failed" and "401" in denied["reason"]
    cli = subprocess.run(
        [sys.executable, "-m", "infra.admin", "set-hf-token", "--workspace", ws.id],
        input="hf_workspace_secret_token\n", cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "hf_workspace_secret_token" not in cli.stdout
    stored = ws.container.workspaces.get(ws.id)
    assert "hf_workspace_secret_token" not in json.dumps(stored, default=str)
    ok = run_to_end(ws, stack, lb["id"])
    assert ok["status"] == "completed", ok
    sent = [r for r in hf.requests if repo in r.path]
    assert sent[-1].headers.get("authorization") == "Bearer hf_workspace_secret_token"


def test_custom_and_registered_endpoints_send_their_auth(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 4)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    custom, registered = model(llm, 1.0), model(llm, 0.5)
    resp = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "ours", "platform": "Custom", "model_url": llm.base_url, "token": "sk-custom-0123456789",
              "auth_type": "custom-header", "auth_header_name": "X-Model-Key", "parameters": {"model": custom.name, "temperature": 0}},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    reg = ws.http.post(
        "/api/models",
        json={"name": "fine-tune", "platform": "HuggingFace", "model_url": f"{llm.base_url}/chat/completions",
              "token": "Basic Zm9vOmJhcg==", "auth_type": "authorization", "parameters": {"model": registered.name}},
    ).json()  # fmt: skip
    ws.http.post(f"/api/leaderboards/{lb['id']}/models", json={"name": "ft", "model_id": reg["id"]})
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    # The run keeps an encrypted snapshot of each endpoint; none of it is ever shown.
    for path in (
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}",
        f"/api/leaderboards/{lb['id']}/runs",
    ):
        text = ws.http.get(path).text
        assert "sk-custom-0123456789" not in text and "Zm9vOmJhcg" not in text
        assert "token_encrypted" not in text and "endpoints" not in text
    scores = sorted(r["score"] for r in run["results"])
    assert scores == sorted([1.0, sum(answers_correctly(registered, q) for q in rows) / 4])
    by_model = {}
    for r in llm.requests:
        by_model.setdefault(json.loads(r.body).get("model"), []).append(r)
    assert {r.headers.get("x-model-key") for r in by_model[custom.name]} == {"sk-custom-0123456789"}
    assert all(r.path == "/v1/chat/completions" for r in by_model[custom.name])
    assert all(json.loads(r.body)["temperature"] == 0 for r in by_model[custom.name])
    assert {r.headers.get("authorization") for r in by_model[registered.name]} == {
        "Basic Zm9vOmJhcg=="
    }


def test_calls_in_flight_fill_the_providers_budget_across_tasks_and_never_exceed_it(
    ws, stack, hf, llm
):
    import threading

    url, _ = make_dataset(hf, llm, 10)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    slow = [model(llm, 1.0, latency_ms=300), model(llm, 0.5, latency_ms=300)]
    for m in slow:
        add_openrouter(ws, lb["id"], m)
    names = [m.name.encode() for m in slow]
    lock, state = threading.Lock(), {"now": 0, "max": 0}
    original = llm.handle

    def counting(request):
        if not any(name in request.body for name in names):
            return original(request)
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        try:
            return original(request)
        finally:
            with lock:
                state["now"] -= 1

    llm.handle = counting
    try:
        run = run_to_end(ws, stack, lb["id"], {"use_cache": False})
    finally:
        llm.handle = original
    assert run["status"] == "completed"
    # Four tasks of five calls (two models, chunks of 5) run at once and share one budget
    # for the provider: exactly PROVIDER_CONCURRENCY (8) calls in flight at the peak, where
    # per-task pools would have allowed 20.
    assert state["max"] == ws.container.settings.provider_concurrency == 8
