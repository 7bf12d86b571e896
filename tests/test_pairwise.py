"""Pairwise judging against stand-in judges: every pair judged in both orders with MT-Bench's
markers; a judge that always prefers the first answer yields ties and no winner, a fair one
the win rates the stand-in models imply."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.conftest import create_leaderboard
from tests.standins.openai_server import StandinModel, answers_correctly
from tests.test_runs import add_openrouter, make_dataset, model, run_to_end

PROMPT = "Answer.\n\n{input}"
A = re.compile(
    r"\[The Start of Assistant A's Answer\]\n(.*?)\n\[The End of Assistant A's Answer\]", re.S
)
B = re.compile(
    r"\[The Start of Assistant B's Answer\]\n(.*?)\n\[The End of Assistant B's Answer\]", re.S
)


@pytest.fixture
def judge(llm):
    j = StandinModel(f"judge{uuid.uuid4().hex[:6]}/pairwise", judge=True)
    llm.add_model(j)
    saved = llm.judge_fn
    yield j
    llm.judge_fn = saved


def pairwise_board(ws, hf, llm, judge, n: int):
    url, rows = make_dataset(hf, llm, n)
    base, good, bad = model(llm, 0.5), model(llm, 1.0), model(llm, 0.0)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="judge",
        judge_provider="OpenRouter", judge_model=judge.name,
        eval_metadata={"judge_mode": "pairwise"},
    )  # fmt: skip
    ids = {m.name: add_openrouter(ws, lb["id"], m) for m in (base, good, bad)}
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={"eval_metadata": {"judge_mode": "pairwise", "baseline_model_id": ids[base.name]}},
    )
    assert resp.status_code == 200, resp.text
    return lb, rows, ids, (base, good, bad)


def test_a_judge_that_prefers_the_first_answer_yields_ties(ws, stack, hf, llm, judge):
    seen: list[str] = []

    def first_always(messages):
        text = messages[-1]["content"]
        assert A.search(text) and B.search(text)  # MT-Bench's markers, both answers
        seen.append(text)
        return json.dumps({"winner": "A", "reason": "the first is better"})

    llm.judge_fn = first_always
    lb, _, ids, (base, _, _) = pairwise_board(ws, hf, llm, judge, 6)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    assert run["pairwise"] == {"baseline": ids[base.name]}
    # Two candidates x 6 samples x both orders.
    assert len(seen) == 24
    results = {r["leaderboard_model_id"]: r for r in run["results"]}
    assert {r["score"] for r in results.values()} == {0.5}
    assert {r["rank"] for r in results.values()} == {1}  # no winner
    assert run["judge_consistency"] == {"pairs": 12, "inconsistent": 12, "rate": 1.0}


def test_a_fair_judge_gives_the_win_rates_the_models_imply(ws, stack, hf, llm, judge):
    def fair(messages):
        text = messages[-1]["content"]
        expected = llm.dataset[llm.find_input(text)]
        a_right = A.search(text)[1] == expected
        b_right = B.search(text)[1] == expected
        winner = "tie" if a_right == b_right else ("A" if a_right else "B")
        return json.dumps({"winner": winner, "reason": "matches the reference"})

    llm.judge_fn = fair
    lb, rows, ids, (base, good, bad) = pairwise_board(ws, hf, llm, judge, 12)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run

    def win_rate(m: StandinModel) -> float:
        total = 0.0
        for q in rows:
            mine, theirs = answers_correctly(m, q), answers_correctly(base, q)
            total += 1.0 if mine and not theirs else 0.0 if theirs and not mine else 0.5
        return total / len(rows)

    results = {r["leaderboard_model_id"]: r for r in run["results"]}
    assert results[ids[base.name]]["score"] == 0.5
    assert results[ids[good.name]]["score"] == pytest.approx(win_rate(good))
    assert results[ids[bad.name]]["score"] == pytest.approx(win_rate(bad))
    assert win_rate(good) > 0.5 > win_rate(bad)  # the stand-ins differ on this data
    assert run["judge_consistency"]["inconsistent"] == 0
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples",
        params={"model_id": ids[good.name], "limit": 100},
    ).json()["items"]
    assert {s["score"] for s in samples} <= {0.5, 1.0}


def test_a_baseline_that_is_not_a_candidate_is_refused(ws, hf, llm, judge):
    lb, _, ids, (_, good, _) = pairwise_board(ws, hf, llm, judge, 2)
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={"model_ids": [ids[good.name]]})
    assert resp.status_code == 422
    assert "baseline" in resp.json()["detail"]


def test_pairwise_settings_are_for_judged_leaderboards(ws, hf, llm):
    url, _ = make_dataset(hf, llm, 2)
    resp = ws.http.post(
        "/api/leaderboards",
        json={
            "name": "x", "system_prompt": PROMPT, "dataset_type": "GET", "dataset_url": url,
            "eval_type": "exact", "eval_metadata": {"judge_mode": "pairwise"},
        },
    )  # fmt: skip
    assert resp.status_code == 422 and "judged leaderboards" in resp.json()["detail"]
