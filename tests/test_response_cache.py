"""The response cache at chunk granularity: one document per chunk of calls, and a run of what
was asked before answered from it at prepare time, without a model call or an inference task,
exactly once under duplicate delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import create_leaderboard
from tests.standins.openai_server import Failures
from tests.test_duplicate_deliveries import duplicated, swapped_queue
from tests.test_runs import (
    PROMPT,
    add_openrouter,
    expected_scores,
    judge_model,
    make_dataset,
    model,
    run_to_end,
)


class Recording:
    """A TaskQueue that notes the path of every task enqueued, then enqueues it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.paths: list[str] = []
        self.payloads: list[tuple[str, dict[str, Any]]] = []

    def enqueue(self, *, queue: str, name: str, path: str, payload: Mapping[str, Any],
                delay_seconds: float = 0.0) -> bool:  # fmt: skip
        self.paths.append(path)
        self.payloads.append((path, dict(payload)))
        return bool(
            self.inner.enqueue(
                queue=queue, name=name, path=path, payload=payload, delay_seconds=delay_seconds
            )
        )


@contextmanager
def recording(container: Any) -> Iterator[Recording]:
    with swapped_queue(container, Recording) as queue:
        yield queue


def cache_docs(ws: Any) -> int:
    cache = ws.container.db.collection("workspaces").document(ws.id).collection("response_cache")
    return sum(1 for _ in cache.select([]).stream())


def test_one_document_per_chunk_and_a_second_run_calls_nothing_and_queues_no_inference(
    ws, stack, hf, llm
):
    url, rows = make_dataset(hf, llm, 12)  # RUN_CHUNK_SIZE 5 in tests: chunks of 5, 5, 2
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    models = {}
    for acc in (0.9, 0.4):
        m = model(llm, acc)
        models[add_openrouter(ws, lb["id"], m)] = m
    before = cache_docs(ws)
    first = run_to_end(ws, stack, lb["id"])
    assert first["status"] == "completed" and first["cache_hits"] == 0
    # Two models x three chunks: six documents, not 24.
    assert cache_docs(ws) - before == 6
    calls = len(llm.requests)

    with recording(ws.container) as queue:
        second = run_to_end(ws, stack, lb["id"])
    assert second["status"] == "completed", second
    assert len(llm.requests) == calls
    assert second["cache_hits"] == 24
    assert (second["progress"]["done"], second["progress"]["total"]) == (24, 24)
    assert "/tasks/infer" not in queue.paths and "/tasks/finalize" in queue.paths
    assert [r["score"] for r in second["results"]] == [r["score"] for r in first["results"]]
    expected = expected_scores(models, rows)
    for lm in models:
        samples = ws.http.get(
            f"/api/leaderboards/{lb['id']}/runs/{second['id']}/samples", params={"model_id": lm}
        ).json()["items"]
        assert [s["score"] for s in samples] == expected[lm]
        assert all(s["cached"] for s in samples)
    assert cache_docs(ws) - before == 6

    # A new candidate: only its calls are made; the others' cells come from the cache.
    newcomer = model(llm, 0.7)
    add_openrouter(ws, lb["id"], newcomer)
    third = run_to_end(ws, stack, lb["id"])
    assert third["status"] == "completed"
    assert len(llm.requests) == calls + 12
    assert all(newcomer.name.encode() in r.body for r in llm.requests[calls:])
    assert third["cache_hits"] == 24
    assert cache_docs(ws) - before == 9


def test_a_judged_run_asked_again_calls_neither_the_models_nor_the_judge(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 7)
    j = judge_model(llm)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="judge",
                            judge_provider="OpenRouter", judge_model=j.name)  # fmt: skip
    for acc in (0.8, 0.3):
        add_openrouter(ws, lb["id"], model(llm, acc))
    first = run_to_end(ws, stack, lb["id"])
    assert first["status"] == "completed"
    calls = len(llm.requests)
    with recording(ws.container) as queue:
        second = run_to_end(ws, stack, lb["id"])
    assert second["status"] == "completed", second
    assert len(llm.requests) == calls
    assert not {"/tasks/infer", "/tasks/judge"} & set(queue.paths)
    assert [(r["score"], r["n"]) for r in second["results"]] == [
        (r["score"], r["n"]) for r in first["results"]
    ]


def test_a_new_judge_finds_the_answers_cached_and_judges_them_all(ws, stack, hf, llm):
    """The answers are cached, the new judge's verdicts are not: no model is asked again,
    every cell waits for its judge task, and the new judge is asked about every sample."""
    url, _ = make_dataset(hf, llm, 7)  # chunks of 5 and 2
    first_judge, second_judge = judge_model(llm), judge_model(llm)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="judge",
                            judge_provider="OpenRouter", judge_model=first_judge.name)  # fmt: skip
    for acc in (0.8, 0.3):
        add_openrouter(ws, lb["id"], model(llm, acc))
    assert run_to_end(ws, stack, lb["id"])["status"] == "completed"
    calls = len(llm.requests)
    patched = ws.http.patch(
        f"/api/leaderboards/{lb['id']}", json={"judge_model": second_judge.name}
    )
    assert patched.status_code == 200, patched.text

    with recording(ws.container) as queue:
        second = run_to_end(ws, stack, lb["id"])
    assert second["status"] == "completed", second
    asked = llm.requests[calls:]
    assert len(asked) == 14 and all(second_judge.name.encode() in r.body for r in asked)
    assert "/tasks/infer" not in queue.paths and queue.paths.count("/tasks/judge") == 4
    assert second["cache_hits"] == 14


@pytest.mark.parametrize("copy_first", [False, True], ids=["original-first", "copy-first"])
def test_a_run_from_the_cache_delivered_twice_counts_every_cell_once(
    ws, stack, hf, llm, copy_first
):
    url, _ = make_dataset(hf, llm, 12)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    for acc in (0.9, 0.4):
        add_openrouter(ws, lb["id"], model(llm, acc))
    first = run_to_end(ws, stack, lb["id"])
    calls = len(llm.requests)
    with duplicated(ws.container, copy_first=copy_first) as queue:
        second = run_to_end(ws, stack, lb["id"])
    assert queue.copies >= 2  # prepare and finalize, each twice
    assert second["status"] == "completed", second
    assert len(llm.requests) == calls
    assert ws.container.runs.progress(ws.id, lb["id"], second["id"]) == (6, 24)
    assert [r["score"] for r in second["results"]] == [r["score"] for r in first["results"]]
    assert second["cache_hits"] == 24


def test_a_chunk_finished_over_two_attempts_is_cached_whole(ws, stack, hf, llm):
    url, rows = make_dataset(hf, llm, 5)  # one chunk
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    flaky = model(
        llm, 0.6, failures=Failures("bad_gateway", attempts=2, inputs=frozenset(list(rows)[:2]))
    )
    add_openrouter(ws, lb["id"], flaky)
    before = cache_docs(ws)
    first = run_to_end(ws, stack, lb["id"])
    assert first["status"] == "completed" and first["results"][0]["errors"] == 0
    # The first attempt stored three answers, the retry the other two, in the same document.
    assert cache_docs(ws) - before == 1
    calls = len(llm.requests)
    second = run_to_end(ws, stack, lb["id"])
    assert len(llm.requests) == calls and second["cache_hits"] == 5


def test_a_task_looks_in_the_cache_only_where_prepare_found_a_document(ws, stack, hf, llm):
    """Prepare reads every chunk's cache document anyway; where there was none, it tells the
    task so (one read fewer a task on a cold run). Where a document exists without every
    answer (a sample whose call failed for good is not cached), the task reads it, takes what
    it holds and calls the model for the rest."""
    url, rows = make_dataset(hf, llm, 5)  # one chunk
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    broken = frozenset(list(rows)[:1])
    add_openrouter(ws, lb["id"], model(llm, 0.8, failures=Failures("permanent", inputs=broken)))
    with recording(ws.container) as queue:
        first = run_to_end(ws, stack, lb["id"])
    assert first["status"] == "completed" and first["results"][0]["errors"] == 1
    infers = [p for path, p in queue.payloads if path == "/tasks/infer"]
    assert infers and all(p.get("cache_absent") is True for p in infers)
    calls = len(llm.requests)

    with recording(ws.container) as queue:
        second = run_to_end(ws, stack, lb["id"])
    infers = [p for path, p in queue.payloads if path == "/tasks/infer"]
    assert infers and not any(p.get("cache_absent") for p in infers)
    assert len(llm.requests) == calls + 1  # only the failed sample is asked again
    assert second["cache_hits"] == 4 and second["results"][0]["errors"] == 1


def test_a_chunk_read_once_is_served_from_memory_and_a_copy_each_time(ws, stack, hf, llm):
    """Dataset chunks never change once written (a version id is its content's digest), so
    the repository keeps the ones it read; the least recently used go once over its size."""
    from shared.domain.errors import Conflict
    from shared.repositories.runs import RunRepository

    url, _ = make_dataset(hf, llm, 12)  # chunks of 5, 5, 2
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    add_openrouter(ws, lb["id"], model(llm, 0.9))
    run = run_to_end(ws, stack, lb["id"])
    version = run["dataset_version"]["id"]
    db = ws.container.db
    stored = RunRepository(db)
    chunks = [stored.get_chunk(ws.id, lb["id"], version, c) for c in range(3)]
    one_chunk = sum(64 + len(s["input"]) + len(s["expected"]) + 32 for s in chunks[0])
    small = RunRepository(db, chunk_cache_bytes=one_chunk + 100)  # room for one chunk of 5
    assert small.get_chunk(ws.id, lb["id"], version, 0) == chunks[0]
    small.get_chunk(ws.id, lb["id"], version, 0)[0]["input"] = "changed by a caller"
    assert small.get_chunk(ws.id, lb["id"], version, 0) == chunks[0]

    small.get_chunk(ws.id, lb["id"], version, 1)  # pushes chunk 0 out: room for one

    version_ref = (
        db.collection("workspaces").document(ws.id).collection("leaderboards")
        .document(lb["id"]).collection("dataset_versions").document(version)
    )  # fmt: skip
    for snap in version_ref.collection("chunks").stream():
        snap.reference.delete()
    assert small.get_chunk(ws.id, lb["id"], version, 1) == chunks[1]  # from memory
    with pytest.raises(Conflict):  # pushed out, and gone from the store
        small.get_chunk(ws.id, lb["id"], version, 0)
    assert stored.get_chunk(ws.id, lb["id"], version, 2) == chunks[2]  # the other kept all


def test_chunks_a_version_writes_are_kept_as_written_without_reading_them_back(ws):
    """The instance that pins a version serves its chunks from memory from then on: the
    run's first tasks, often on that instance, need not read back what it has just stored."""
    from shared.domain.errors import Conflict
    from shared.repositories.runs import RunRepository

    chunks = [
        [{"index": 0, "input": "a", "expected": "1", "line": 1}],
        [{"index": 1, "input": "b", "expected": None, "line": 2}],
    ]
    repo = RunRepository(ws.container.db)
    repo.put_version(ws.id, "lb_mem", "dsv_mem", {"rows": 2}, chunks)
    chunks[0][0]["input"] = "changed by the caller afterwards"
    version_ref = (
        ws.container.db.collection("workspaces").document(ws.id).collection("leaderboards")
        .document("lb_mem").collection("dataset_versions").document("dsv_mem")
    )  # fmt: skip
    for snap in version_ref.collection("chunks").stream():
        snap.reference.delete()
    assert repo.get_chunk(ws.id, "lb_mem", "dsv_mem", 0)[0]["input"] == "a"
    assert repo.get_chunk(ws.id, "lb_mem", "dsv_mem", 1) == chunks[1]
    with pytest.raises(Conflict):  # another instance reads the store, where they are gone
        RunRepository(ws.container.db).get_chunk(ws.id, "lb_mem", "dsv_mem", 0)


def test_cells_and_chunks_are_committed_in_groups_the_emulator_accepts():
    # A warm run's cells near their 896 KiB budget, written by prepare: the commits must stay
    # under the 4 MiB a request the emulator (and gRPC by default) accept.
    from shared.repositories.base import COMMIT_MAX_BYTES, commit_groups

    big = {"samples": [{"output": "x" * 7000, "judge_reason": "r" * 1000}] * 100}
    groups = commit_groups([(i, big) for i in range(10)], extra_writes=1)
    assert [len(g) for g in groups] == [2, 2, 2, 2, 2]
    assert 2 * len(json.dumps(big)) <= COMMIT_MAX_BYTES < 3 * len(json.dumps(big))
    small = commit_groups([(i, {"a": 1}) for i in range(1000)], extra_writes=1)
    assert [len(g) for g in small] == [399, 399, 202]
