"""Runs always end, with results or a reason, on the data that used to make them spin for ever:
rows too big for a document, lone surrogates, answers too big for the cache, numbers the
scoring cannot use, and steps that cannot succeed whatever the retry."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import create_leaderboard
from tests.test_runs import PROMPT, add_openrouter, model, run_to_end
from tests.test_scheduler import lb_ref, start_without_tasks


def publish(hf, llm, rows: list[dict[str, Any]], *, raw_lines: list[str] = ()) -> str:
    """Serve ``rows`` (and ``raw_lines`` after them) as a JSONL file; teach the model stand-in
    each row's answer."""
    tag = uuid.uuid4().hex[:8]
    for r in rows:
        llm.dataset[r["input"]] = r["expected"]
    lines = [json.dumps(r) for r in rows] + list(raw_lines)
    return str(hf.add_file(f"acme/poison-{tag}", "eval.jsonl", "\n".join(lines) + "\n"))


def exact_board(ws, llm, url: str, accuracy: float = 1.0) -> tuple[dict[str, Any], str]:
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    return lb, add_openrouter(ws, lb["id"], model(llm, accuracy))


def chunk_docs(ws, lb_id: str, version_id: str) -> list[dict[str, Any]]:
    ref = lb_ref(ws, lb_id).collection("dataset_versions").document(version_id)
    return [d.to_dict() for d in ref.collection("chunks").stream()]


def test_rows_too_big_for_one_chunk_document_are_cut_by_bytes(ws, stack, hf, llm):
    # Five consecutive rows of 220 KB: one 5-row chunk would be 1.1 MB, over Firestore's 1 MiB.
    tag = uuid.uuid4().hex[:6]
    big = [
        {"input": f"B{tag}x{i} " + "context " * 27_500, "expected": f"A{tag}x{i}"} for i in range(5)
    ]
    small = [{"input": f"S{tag}x{i}", "expected": f"T{tag}x{i}"} for i in range(3)]
    url = publish(hf, llm, big + small)
    lb, lm = exact_board(ws, llm, url)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    assert (run["results"][0]["score"], run["results"][0]["n"]) == (1.0, 8)
    chunks = chunk_docs(ws, lb["id"], run["dataset_version"]["id"])
    assert len(chunks) >= 2
    assert all(len(json.dumps(c["samples"]).encode()) < 1024 * 1024 for c in chunks)
    assert sum(len(c["samples"]) for c in chunks) == 8
    # Chunks of different sizes: a page across their boundaries still lists samples in order.
    page = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples",
        params={"model_id": lm, "offset": 2, "limit": 5},
    ).json()
    assert [s["index"] for s in page["items"]] == [2, 3, 4, 5, 6] and page["total"] == 8
    assert [s["expected"] for s in page["items"]] == [r["expected"] for r in (big + small)[2:7]]


def test_a_line_longer_than_the_row_limit_is_a_bad_row(ws, stack, hf, llm):
    tag = uuid.uuid4().hex[:6]
    rows = [{"input": f"L{tag}x{i}", "expected": f"M{tag}x{i}"} for i in range(4)]
    huge = json.dumps({"input": "x" * 2_000_000, "expected": "y"})
    url = publish(hf, llm, rows[:2], raw_lines=[huge, *(json.dumps(r) for r in rows[2:])])
    for r in rows[2:]:
        llm.dataset[r["input"]] = r["expected"]
    lb, _ = exact_board(ws, llm, url)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    version = run["dataset_version"]
    assert (version["rows"], version["bad_rows"]) == (4, 1)
    assert version["bad_row_examples"] == [
        {"line": 3, "reason": f"row is longer than the {256 * 1024}-byte limit"}
    ]
    assert run["results"][0]["score"] == 1.0


def test_lone_surrogates_in_data_and_answers_are_stored_as_replacement_characters(
    ws, stack, hf, llm
):
    tag = uuid.uuid4().hex[:6]
    # Escaped in the file as JSON allows; decoded, they are strs no UTF-8 encoder accepts.
    lines = [
        f'{{"input": "S{tag}x0 \\udcff", "expected": "ok"}}',
        f'{{"input": "S{tag}x1", "expected": "half \\ud800 pair"}}',
    ]
    url = hf.add_file(f"acme/surrogates-{tag}", "eval.jsonl", "\n".join(lines) + "\n")
    # The model sees the cleaned input; the second answers with a lone surrogate of its own
    # (json.dumps escapes it on the wire, so the client decodes it back into one).
    llm.dataset[f"S{tag}x0 \ufffd"] = "ok"
    llm.dataset[f"S{tag}x1"] = "half \ud800 pair"
    lb, lm = exact_board(ws, llm, url)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    assert run["results"][0]["score"] == 1.0 and run["results"][0]["n"] == 2
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
    ).json()["items"]
    assert samples[0]["input"] == f"S{tag}x0 \ufffd"
    assert samples[1]["expected"] == samples[1]["output"] == "half \ufffd pair"


def test_an_answer_too_big_for_a_cache_document_is_cut(ws, stack, hf, llm):
    tag = uuid.uuid4().hex[:6]
    rows = [{"input": f"H{tag}x{i}", "expected": f"K{tag}x{i}"} for i in range(3)]
    url = publish(hf, llm, rows)
    llm.dataset[rows[0]["input"]] = "long " * 300_000  # a 1.5 MB answer
    lb, lm = exact_board(ws, llm, url)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    r = run["results"][0]
    assert (r["n"], r["errors"], r["score"]) == (3, 0, pytest.approx(2 / 3))
    first = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
    ).json()["items"][0]
    assert first["output"].startswith("long long") and len(first["output"]) <= 8000
    # The cut answer is served from the cache next time, scored the same.
    again = run_to_end(ws, stack, lb["id"])
    assert again["cache_hits"] == 3 and again["results"][0]["score"] == r["score"]


def test_a_stored_infinite_tolerance_fails_the_run_with_a_reason(ws, stack, hf, llm):
    """The API refuses to start such a run (tests/test_hostile_regex.py); a run whose snapshot
    holds one anyway (edited in the database after it was queued) fails when prepared, before
    any model is called, instead of failing every scoring attempt for ever."""
    url = publish(hf, llm, [{"input": f"N{uuid.uuid4().hex[:6]}", "expected": "1"}])
    lb, _ = exact_board(ws, llm, url)
    run = start_without_tasks(ws, lb["id"])  # its prepare task is delivered by hand below
    ref = lb_ref(ws, lb["id"]).collection("runs").document(run.id)
    # As the API used to accept it (1e999) and Firestore stored it: infinity.
    ref.update({"eval_metadata": {"numeric_tolerance": float("inf")}})
    calls = len(llm.requests)
    payload = {"workspace_id": ws.id, "leaderboard_id": lb["id"], "run_id": run.id}
    resp = worker_post(stack, "/tasks/prepare", payload, 0)
    assert resp.status_code == 200, resp.text
    failed = run_status(ws, payload)
    assert failed["status"] == "failed", failed
    assert failed["reason"].startswith("The run cannot be scored: eval_metadata.numeric_tolerance")
    assert "finite" in failed["reason"] and len(llm.requests) == calls
    # The leaderboard is not blocked by it.
    assert run_to_end(ws, stack, lb["id"])["status"] == "completed"


def test_a_token_the_keys_cannot_decrypt_fails_the_run_at_once(ws, stack, hf, llm):
    """An operator removed the key a model token was encrypted with: every attempt would fail
    the same way, so the run fails on the first, saying why."""
    url = publish(hf, llm, [{"input": f"D{uuid.uuid4().hex[:6]}", "expected": "x"}])
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    resp = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "ours", "platform": "Custom", "model_url": llm.base_url,
              "token": "sk-test-0123456789", "parameters": {"model": model(llm, 1.0).name}},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    lb_ref(ws, lb["id"]).collection("candidates").document(resp.json()["id"]).update(
        {"token_encrypted": "gAAAAA-not-a-token-of-ours"}
    )
    retried_before = retried(stack)
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "failed", run
    assert "cannot be decrypted with the configured keys" in run["reason"]
    assert "infer" in run["reason"]
    assert retried(stack) == retried_before, "a step that cannot succeed was retried"


def retried(stack) -> int:
    return sum(q.retried for q in stack.dispatcher.stats().queues.values())


# --- the worker's contract, over HTTP: what a delivery answers, attempt by attempt ---------------
def worker_post(stack, path: str, payload: dict[str, Any], retry: int) -> httpx.Response:
    return httpx.post(
        f"{stack.base_url}{path}",
        json=payload,
        headers={"X-CloudTasks-TaskRetryCount": str(retry), "X-CloudTasks-TaskName": "t"},
        timeout=30,
    )


def broken_running_run(ws, stack, hf, llm, **damage: Any) -> tuple[dict[str, Any], str]:
    """A run that reached ``running`` and whose stored document is then damaged."""
    url = publish(hf, llm, [{"input": f"W{uuid.uuid4().hex[:6]}", "expected": "x"}])
    lb, lm = exact_board(ws, llm, url)
    done = run_to_end(ws, stack, lb["id"])
    assert done["status"] == "completed"
    ref = lb_ref(ws, lb["id"]).collection("runs").document(done["id"])
    ref.update(
        {"status": "running", "finished_at": None, "results": [], **damage}
    )  # a run as it was mid-way
    for cell in ref.collection("cells").stream():
        cell.reference.delete()
    lb_ref(ws, lb["id"]).update({"active_run_id": done["id"]})
    payload = {"workspace_id": ws.id, "leaderboard_id": lb["id"], "run_id": done["id"],
               "leaderboard_model_id": lm, "chunk": 0}  # fmt: skip
    return payload, done["id"]


def run_status(ws, payload) -> dict[str, Any]:
    return dict(
        ws.http.get(
            f"/api/leaderboards/{payload['leaderboard_id']}/runs/{payload['run_id']}"
        ).json()
    )


def test_an_unexpected_error_is_retried_then_fails_the_run_on_the_last_attempt(ws, stack, hf, llm):
    payload, _ = broken_running_run(ws, stack, hf, llm, prompts="not an object")
    last = ws.container.settings.task_max_attempts - 1
    for retry in range(last):
        resp = worker_post(stack, "/tasks/infer", payload, retry)
        assert resp.status_code == 500, resp.text  # maybe an outage: worth a retry
        assert run_status(ws, payload)["status"] == "running"
    resp = worker_post(stack, "/tasks/infer", payload, last)
    assert resp.status_code == 200 and resp.json()["run_failed"] is True
    run = run_status(ws, payload)
    assert run["status"] == "failed" and "AttributeError" in run["reason"]
    assert "infer" in run["reason"] and run["finished_at"]
    # The leaderboard is free to run again.
    again = ws.http.post(f"/api/leaderboards/{payload['leaderboard_id']}/run", json={})
    assert again.status_code == 202, again.text
    assert stack.dispatcher.join(timeout=60)


def test_a_missing_dataset_chunk_fails_the_run_at_once(ws, stack, hf, llm):
    payload, _ = broken_running_run(ws, stack, hf, llm, **{"dataset_version.id": "dsv_gone"})
    resp = worker_post(stack, "/tasks/infer", payload, 0)
    assert resp.status_code == 200 and resp.json()["run_failed"] is True
    run = run_status(ws, payload)
    assert run["status"] == "failed"
    assert "Dataset chunk 0 of version dsv_gone is missing" in run["reason"]


def test_a_run_that_is_gone_is_acknowledged_without_effect(ws, stack):
    payload = {"workspace_id": ws.id, "leaderboard_id": "lb_nope", "run_id": "run_nope",
               "leaderboard_model_id": "lm_x", "chunk": 0}  # fmt: skip
    for path in ("/tasks/prepare", "/tasks/infer", "/tasks/judge", "/tasks/finalize"):
        resp = worker_post(stack, path, payload, 0)
        assert resp.status_code == 200 and resp.json()["acknowledged"] is True, (path, resp.text)
    garbage = worker_post(stack, "/tasks/infer", {"chunk": "x"}, 0)
    assert garbage.status_code == 200 and "detail" in garbage.json()


def test_a_stalled_run_started_long_ago_but_progressing_is_left_alone(ws, stack, hf, llm):
    """Stall detection looks at progress, not age."""
    from tests.test_scheduler import tick

    payload, run_id = broken_running_run(ws, stack, hf, llm)
    ref = lb_ref(ws, payload["leaderboard_id"]).collection("runs").document(run_id)
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    ref.update({"created_at": long_ago, "started_at": long_ago})
    ref.collection("cells").document("recent").set(
        {"leaderboard_model_id": "lm_x", "chunk": 99, "state": "partial", "n": 0,
         "samples": [], "updated_at": datetime.now(UTC)}
    )  # fmt: skip
    assert run_id not in tick(stack)["healed"]
    ref.collection("cells").document("recent").delete()
    report = tick(stack)
    assert run_id in report["healed"]
    assert stack.dispatcher.join(timeout=60)
    assert run_status(ws, payload)["status"] == "completed"
