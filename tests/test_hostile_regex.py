"""A hostile ``extract_regex`` cannot freeze an instance (issue 6, finding 1).

``(a+)+$`` against thousands of ``a`` followed by ``b`` backtracks exponentially in Python's
``re`` while holding the GIL: the run never finished and ``/healthz`` stopped answering. Scoring
now runs patterns in RE2, and patterns RE2 cannot run are refused when saved.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from tests.conftest import create_leaderboard, detail_of
from tests.test_runs import PROMPT, add_openrouter, model, run_to_end

HOSTILE = "(a+)+$"
# Generous: this checks that the process stays alive, not how fast it answers.
HEALTH_BOUND_SECONDS = 2.0


class HealthPoller(threading.Thread):
    """Polls /healthz until stopped, recording how long each answer took (None: no answer)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stopped = threading.Event()
        self.polling = threading.Event()  # set once the first poll has answered
        self.polls: list[float | None] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=HEALTH_BOUND_SECONDS * 5) as http:
            while True:
                stopping = self.stopped.is_set()  # one last poll after the run, then stop
                started = time.monotonic()
                try:
                    ok = http.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.polls.append(time.monotonic() - started if ok else None)
                self.polling.set()
                if stopping:
                    return
                self.stopped.wait(0.05)


def test_hostile_pattern_scores_without_freezing_the_instance(ws, stack, hf, llm, base_url):
    tag = uuid.uuid4().hex[:8]
    # The model answers each row's expected text: two almost-matches that make a backtracking
    # engine explode (no match: score 0) and two that match (the group is the whole answer).
    rows = {
        f"Q{tag}x0": "a" * 5000 + "b",
        f"Q{tag}x1": "a" * 5000,
        f"Q{tag}x2": "a" * 4000 + "b",
        f"Q{tag}x3": "a" * 3,
    }
    lines = [f'{{"input": "{q}", "expected": "{a}"}}' for q, a in rows.items()]
    url = hf.add_file(f"acme/hostile-{tag}", "eval.jsonl", "\n".join(lines) + "\n")
    llm.dataset.update(rows)
    lb = create_leaderboard(
        ws,
        dataset_url=url,
        system_prompt=PROMPT,
        eval_type="exact",
        eval_metadata={"extract_regex": HOSTILE},
    )
    lm = add_openrouter(ws, lb["id"], model(llm, 1.0))

    poller = HealthPoller(base_url)
    poller.start()
    assert poller.polling.wait(timeout=30), "/healthz never answered"
    try:
        run = run_to_end(ws, stack, lb["id"])
    finally:
        poller.stopped.set()
        poller.join(timeout=30)

    assert run["status"] == "completed", run
    (result,) = run["results"]
    assert (result["score"], result["n"], result["errors"]) == (0.5, 4, 0)
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
    ).json()["items"]
    assert {s["input"]: s["score"] for s in samples} == {
        f"Q{tag}x0": 0.0,
        f"Q{tag}x1": 1.0,
        f"Q{tag}x2": 0.0,
        f"Q{tag}x3": 1.0,
    }
    # Polled before the run, throughout it, and once after it finished.
    assert len(poller.polls) >= 2, poller.polls
    slow = [p for p in poller.polls if p is None or p > HEALTH_BOUND_SECONDS]
    assert not slow, f"/healthz did not answer within {HEALTH_BOUND_SECONDS}s: {poller.polls}"


def test_a_pattern_the_engine_cannot_run_cannot_be_saved(ws):
    lb = create_leaderboard(ws, eval_type="exact", eval_metadata={"extract_regex": r"(\d+)"})
    before = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    for pattern, feature in ((r"(?<=Answer: )\d+", "(?<="), (r"(\w)\1", r"\1")):
        resp = ws.http.patch(
            f"/api/leaderboards/{lb['id']}", json={"eval_metadata": {"extract_regex": pattern}}
        )
        assert resp.status_code == 422, resp.text
        (error,) = resp.json()["errors"]
        assert error["loc"] == ["eval_metadata", "extract_regex"]
        assert "linear-time engine" in error["msg"] and feature in error["msg"]
        assert "eval_metadata.extract_regex" in detail_of(resp)
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json() == before
    # Nor on create.
    resp = ws.http.post(
        "/api/leaderboards",
        json={**_config(), "eval_metadata": {"extract_regex": r"(?=x)x"}},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["loc"] == ["eval_metadata", "extract_regex"]


def _config() -> dict[str, object]:
    from tests.conftest import GET_LEADERBOARD

    return {**GET_LEADERBOARD, "eval_type": "exact"}


def test_a_leaderboard_saved_with_an_old_pattern_refuses_to_run_and_says_why(ws, llm):
    """Leaderboards saved before patterns were checked by RE2 may hold one it cannot run (or an
    infinite tolerance, from the 1e999 bug); a run of such a leaderboard could never be scored,
    so starting one is a 409 that names the field, and nothing is written."""
    lb = create_leaderboard(ws, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 1.0))
    doc = (
        ws.container.db.collection("workspaces")
        .document(ws.id)
        .collection("leaderboards")
        .document(lb["id"])
    )
    for legacy, field in (
        ({"extract_regex": r"(?<=Answer: )\d+"}, "extract_regex"),
        ({"numeric_tolerance": float("inf")}, "numeric_tolerance"),
    ):
        doc.update({"eval_metadata": legacy})  # as stored before this change
        resp = ws.http.post(f"/api/leaderboards/{lb['id']}/run", json={})
        assert resp.status_code == 409, resp.text
        assert f"eval_metadata.{field}" in detail_of(resp)
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/runs").json()["total"] == 0
