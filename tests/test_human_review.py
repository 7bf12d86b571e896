"""Human review end to end: a human run answers, waits for people (awaiting_review), shows them
blind items, and finalizes on exactly the scores they gave."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import create_leaderboard, detail_of
from tests.standins.openai_server import WRONG_ANSWER
from tests.test_runs import add_openrouter, make_dataset, model

PROMPT = "Answer.\n\n{input}"


def run_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:6]


def human_board(ws, hf, llm, n: int = 3, **metadata):
    url, rows = make_dataset(hf, llm, n)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="human", eval_metadata=metadata
    )
    good, bad = model(llm, 1.0), model(llm, 0.0)
    ids = {add_openrouter(ws, lb["id"], m): m for m in (good, bad)}
    return lb, rows, ids, good, bad


def start(ws, stack, lb_id: str) -> dict:
    resp = ws.http.post(f"/api/leaderboards/{lb_id}/run", json={})
    assert resp.status_code == 202, resp.text
    assert stack.dispatcher.join(timeout=60)
    return dict(ws.http.get(f"/api/leaderboards/{lb_id}/runs/{resp.json()['id']}").json())


def items(client, lb_id: str, status: str = "pending") -> list[dict]:
    resp = client.get(f"/api/leaderboards/{lb_id}/reviews", params={"status": status, "limit": 100})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def test_people_score_blind_items_and_the_run_finalizes_on_their_scores(ws, stack, hf, llm):
    lb, rows, ids, good, bad = human_board(ws, hf, llm)
    run = start(ws, stack, lb["id"])
    assert run["status"] == "awaiting_review", run
    assert run["review"]["items"] == 6 and run["review"]["reviews_per_item"] == 1

    reviewer = ws.client(ws.token_with("reviews:write"))
    # A reviewer's token sees review items and nothing else.
    assert reviewer.get("/api/leaderboards").status_code == 403
    assert reviewer.get(f"/api/leaderboards/{lb['id']}").status_code == 403
    assert reviewer.get(f"/api/leaderboards/{lb['id']}/runs").status_code == 403
    pending = items(reviewer, lb["id"])
    assert len(pending) == 6
    text = json.dumps(pending)
    for lm_id, m in ids.items():  # blind: nothing says which model wrote an answer
        assert lm_id not in text and m.name not in text
    # Shuffled with the run's recorded seed, reproducibly.
    seed = run["review"]["seed"]
    keys = [hashlib.sha256(f"{seed}\x00{it['id']}".encode()).hexdigest()[:16] for it in pending]
    assert keys == sorted(keys)
    assert {it["input"] for it in pending} == set(rows)

    for body in [{"score": 11}, {"score": -1}, {"score": "ten"}, {}, {"score": 5, "x": 1}]:
        resp = reviewer.post(f"/api/leaderboards/{lb['id']}/reviews/{pending[0]['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
    resp = reviewer.post(f"/api/leaderboards/{lb['id']}/reviews/rvi_nope", json={"score": 5})
    assert resp.status_code == 404
    assert (
        ws.client(ws.token_with("leaderboards:read"))
        .post(f"/api/leaderboards/{lb['id']}/reviews/{pending[0]['id']}", json={"score": 5})
        .status_code
        == 403
    )

    # Right answers get 9, wrong ones 3; the first is scored twice: the second replaces it.
    given = {}
    for i, it in enumerate(pending):
        score = 3.0 if it["output"] == WRONG_ANSWER else 9.0
        url = f"/api/leaderboards/{lb['id']}/reviews/{it['id']}"
        if i == 0:
            first = reviewer.post(url, json={"score": 10 - score}).json()
            assert first["replaced"] is False and first["status"] == "done"
        resp = reviewer.post(url, json={"score": score, "comment": "checked"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["replaced"] is (i == 0)
        given[it["id"]] = score
    assert items(reviewer, lb["id"]) == []
    assert [it["your_score"] for it in items(reviewer, lb["id"], "done")] == [
        given[it["id"]] for it in items(reviewer, lb["id"], "done")
    ]
    assert stack.dispatcher.join(timeout=60)
    done = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert done["status"] == "completed", done
    scores = {r["leaderboard_model_id"]: r for r in done["results"]}
    good_id = next(k for k, m in ids.items() if m is good)
    bad_id = next(k for k, m in ids.items() if m is bad)
    assert scores[good_id]["score"] == pytest.approx(0.9)
    assert scores[bad_id]["score"] == pytest.approx(0.3)
    assert scores[good_id]["n"] == 3 and scores[good_id]["ci_low"] is not None
    assert done["review"]["reviewed"] == 6 and done["review"]["agreement"] is None
    # The run has ended: its items take no more reviews.
    resp = reviewer.post(
        f"/api/leaderboards/{lb['id']}/reviews/{pending[0]['id']}", json={"score": 1}
    )
    assert resp.status_code == 409


def test_several_reviewers_per_item_report_their_agreement(ws, stack, hf, llm):
    lb, _, _, _, _ = human_board(ws, hf, llm, 4, reviews_per_item=2)
    run = start(ws, stack, lb["id"])
    assert run["review"]["reviews_per_item"] == 2
    ann, bob = (ws.client(ws.token_with("reviews:write")) for _ in range(2))
    pending = items(ann, lb["id"])
    for it in pending:
        right = it["output"] != WRONG_ANSWER
        url = f"/api/leaderboards/{lb['id']}/reviews/{it['id']}"
        assert ann.post(url, json={"score": 10 if right else 0}).json()["status"] == "pending"
        assert bob.post(url, json={"score": 8 if right else 1}).json()["status"] == "done"
    assert stack.dispatcher.join(timeout=60)
    done = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    assert done["status"] == "completed"
    agreement = done["review"]["agreement"]
    assert agreement["method"] == "krippendorff_alpha_interval"
    assert agreement["items"] == 8 and agreement["reviewers"] == 2
    assert 0.9 < agreement["alpha"] <= 1.0
    assert sorted(r["score"] for r in done["results"]) == pytest.approx([0.05, 0.9])


def test_a_run_awaiting_review_can_be_cancelled_and_a_new_one_waits_for_it(ws, stack, hf, llm):
    lb, _, _, _, _ = human_board(ws, hf, llm, 2)
    run = start(ws, stack, lb["id"])
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert resp.status_code == 409 and "awaiting_review" in detail_of(resp)
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/runs/{run['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    reviewer = ws.client(ws.token_with("reviews:write"))
    it = items(reviewer, lb["id"])[0]
    resp = reviewer.post(f"/api/leaderboards/{lb['id']}/reviews/{it['id']}", json={"score": 5})
    assert resp.status_code == 409


def test_duplicate_review_tasks_make_the_items_once(ws, stack, hf, llm):
    """The review step delivered again (and out of order, after reviews were given) keeps the
    items and the reviews."""
    from shared.services.pipeline import TaskRef

    lb, _, _, _, _ = human_board(ws, hf, llm, 2)
    run = start(ws, stack, lb["id"])
    reviewer = ws.client(ws.token_with("reviews:write"))
    first = items(reviewer, lb["id"])[0]
    reviewer.post(f"/api/leaderboards/{lb['id']}/reviews/{first['id']}", json={"score": 4})
    ref = TaskRef(ws.id, lb["id"], run["id"])
    ws.container.pipeline.review(ref)  # a late duplicate: the run is awaiting review already
    ws.container.runs.transition(  # and one racing the original, as if still running
        ws.id, lb["id"], run["id"], allowed_from=["awaiting_review"], fields={"status": "running"}
    )
    ws.container.pipeline.review(ref)
    assert len(items(reviewer, lb["id"])) == 3
    (done,) = items(reviewer, lb["id"], "done")
    assert done["your_score"] == 4
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()["status"] == (
        "awaiting_review"
    )


def test_a_judge_audited_against_people(ws, stack, hf, llm):
    """human_audit_rate sends a seeded share of judged answers to the same blind queue; the
    run does not wait; judge_agreement counts exactly what people reviewed."""
    from shared.domain.reviews import audited, review_seed
    from tests.standins.openai_server import StandinModel

    url, rows = make_dataset(hf, llm, 10)
    judge = StandinModel(f"judge{len(rows)}{run_suffix()}/audited", judge=True)
    llm.add_model(judge)
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="judge",
        judge_provider="OpenRouter", judge_model=judge.name,
        eval_metadata={"human_audit_rate": 0.5},
    )  # fmt: skip
    ids = {add_openrouter(ws, lb["id"], m): m for m in (model(llm, 1.0), model(llm, 0.0))}
    resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
    assert stack.dispatcher.join(timeout=60)
    run = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{resp.json()['id']}").json()
    assert run["status"] == "completed", run  # it did not wait for people
    seed = review_seed(run["id"])
    expected = sum(audited(seed, lm, i, 0.5) for lm in ids for i in range(len(rows)))
    assert 0 < expected < 20
    reviewer = ws.client(ws.token_with("reviews:write"))
    pending = items(reviewer, lb["id"])
    assert len(pending) == expected
    assert all(lm not in json.dumps(pending) for lm in ids)
    assert run["judge_agreement"]["n"] == 0

    # People agree with the judge (10 right, 0 wrong) on all but one of those they review.
    reviewed = pending[: max(2, expected - 1)]
    for i, it in enumerate(reviewed):
        right = it["output"] != WRONG_ANSWER
        score = (10 if right else 0) if i else (0 if right else 10)
        url = f"/api/leaderboards/{lb['id']}/reviews/{it['id']}"
        assert reviewer.post(url, json={"score": score}).status_code == 200
    run = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()
    agreement = run["judge_agreement"]
    n = len(reviewed)
    assert agreement["n"] == n
    assert agreement["mean_abs_diff"] == pytest.approx(1 / n)
    assert agreement["pass_fail_agreement"] == pytest.approx((n - 1) / n)
    low, high = agreement["pass_fail_ci"]
    assert low < (n - 1) / n <= high
    board = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert board["judge_agreement"]["n"] == n
    # Audit reviews never change the finished run's results.
    assert (
        run["results"]
        == ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").json()["results"]
    )
