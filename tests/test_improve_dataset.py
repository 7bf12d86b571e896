"""improve-dataset: a cleaner version, auto-labelled by the label model (the OpenAI stand-in
plays it), after which exact scoring works on rows that arrived unlabelled."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import create_leaderboard, detail_of
from tests.standins.openai_server import answers_correctly
from tests.test_push_datasets import push, push_lb, qa, rows_of, versions
from tests.test_runs import PROMPT, add_openrouter, model


def improve(ws, stack, lb_id: str, **headers: str) -> dict[str, Any]:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/improve-dataset", headers=headers)
    assert resp.status_code == 202, resp.text
    assert stack.dispatcher.join(timeout=60)
    return dict(resp.json())


def run_scores(ws, stack, lb_id: str) -> dict[str, Any]:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/run", json={})
    assert resp.status_code == 202, resp.text
    assert stack.dispatcher.join(timeout=60)
    run = ws.http.get(f"/api/leaderboards/{lb_id}/runs/{resp.json()['id']}").json()
    assert run["status"] == "completed", run
    return {r["leaderboard_model_id"]: r["score"] for r in run["results"]}


def test_improve_cleans_labels_and_then_exact_scores_follow_the_labels(ws, stack, llm):
    labeller = model(llm, 1.0)
    lb = push_lb(
        ws, eval_type="exact", system_prompt=PROMPT, dedupe=False, dataset_auto_labels=True,
        judge_provider="OpenRouter", judge_model=labeller.name, consolidate_every_events=1000,
    )  # fmt: skip
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/improve-dataset")
    assert resp.status_code == 409 and "no events" in detail_of(resp)
    unlabelled = qa(llm, 6, labelled=False)
    labelled = qa(llm, 1)
    push(ws, lb["id"], unlabelled + labelled)
    push(ws, lb["id"], [{"input": "  " + unlabelled[0]["input"].upper() + " "}])  # a twin
    push(ws, lb["id"], [{"input": "x" * 25_000}])  # too long to use
    pusher = ws.client(ws.token_with("datasets:push"))
    assert pusher.post(f"/api/leaderboards/{lb['id']}/improve-dataset").status_code == 403

    accepted = improve(ws, stack, lb["id"])
    assert accepted["status"] == "queued"
    newest = versions(ws, lb["id"])[0]
    assert newest["reason"] == "improve" and newest["rows"] == 7
    assert newest["changes"] == {
        "added": 7, "removed": 0, "labelled": 6, "dropped_duplicates": 1, "dropped_unusable": 1,
    }  # fmt: skip
    rows = rows_of(ws, lb["id"], newest["id"])
    answers = dict(llm.dataset)
    assert all(r["expected"] == answers[r["input"]] for r in rows)
    assert sorted(bool(r.get("expected_auto")) for r in rows) == [False] + [True] * 6

    models = {add_openrouter(ws, lb["id"], m): m for m in (model(llm, 1.0), model(llm, 0.5))}
    scores = run_scores(ws, stack, lb["id"])
    inputs = [r["input"] for r in rows]
    for lm, m in models.items():
        expected = sum(answers_correctly(m, q) for q in inputs) / len(inputs)
        assert abs(scores[lm] - expected) < 1e-9, (lm, scores[lm], expected)


def test_improve_is_once_per_request(ws, stack, llm):
    lb = push_lb(ws, consolidate_every_events=1000)
    push(ws, lb["id"], qa(llm, 3))
    key = uuid.uuid4().hex
    first = improve(ws, stack, lb["id"], **{"Idempotency-Key": key})
    second = improve(ws, stack, lb["id"], **{"Idempotency-Key": key})
    assert first["task"] == second["task"]
    assert len(versions(ws, lb["id"])) == 1


def test_improve_a_get_leaderboard_repins_and_labels_its_file(ws, stack, hf, llm):
    labeller = model(llm, 1.0)
    tag = uuid.uuid4().hex[:8]
    rows = {f"Q{tag}x{i}": f"A{tag}x{i}" for i in range(5)}
    llm.dataset.update(rows)
    lines = [json.dumps({"input": q}) for q in rows] + [json.dumps({"input": next(iter(rows))})]
    url = hf.add_file(f"acme/unlabelled-{tag}", "eval.jsonl", "\n".join(lines) + "\n")
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact", dataset_auto_labels=True,
        dataset_metadata={"label_model": labeller.name},
    )  # fmt: skip
    improve(ws, stack, lb["id"])
    newest = versions(ws, lb["id"])[0]
    assert newest["rows"] == 5 and newest["changes"]["labelled"] == 5
    assert newest["changes"]["dropped_duplicates"] == 1
    m = model(llm, 0.6)
    lm = add_openrouter(ws, lb["id"], m)
    scores = run_scores(ws, stack, lb["id"])
    assert scores[lm] == sum(answers_correctly(m, q) for q in rows) / 5
