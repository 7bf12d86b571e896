"""Duplicates cannot corrupt results: every task of a run delivered twice, the copy interleaved
with the original (either one first), gives the results the stand-ins imply, with exactly one
model call per sample and one judge call per answer.

The copies are real deliveries of the local dispatcher (``redeliver``: the same task name,
payload and headers, as Cloud Tasks' own duplicates), racing the originals over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from tests.conftest import create_leaderboard
from tests.test_runs import (
    PROMPT,
    add_openrouter,
    expected_scores,
    judge_model,
    make_dataset,
    model,
    run_to_end,
)

Q = TypeVar("Q")


class Duplicating:
    """A TaskQueue that hands every task to the real dispatcher twice. ``copy_first``: the copy
    is dispatched at once and the original 50 ms later, while the copy is still working;
    otherwise the copy goes right behind the original, and both run at the same time."""

    def __init__(self, dispatcher: Any, *, copy_first: bool) -> None:
        self.inner = dispatcher
        self.copy_first = copy_first
        self.copies = 0

    def enqueue(
        self,
        *,
        queue: str,
        name: str,
        path: str,
        payload: Mapping[str, Any],
        delay_seconds: float = 0.0,
    ) -> bool:
        delay = delay_seconds + (0.05 if self.copy_first else 0.0)
        created = bool(
            self.inner.enqueue(
                queue=queue, name=name, path=path, payload=payload, delay_seconds=delay
            )
        )
        if created:
            self.inner.redeliver(name, queue=queue)
            self.copies += 1
        return created


@contextmanager
def swapped_queue(container: Any, wrap: Callable[[Any], Q]) -> Iterator[Q]:
    """The container's task queue replaced by ``wrap(queue)`` for the block."""
    original = container.queue
    queue = wrap(original)
    # Container.queue is a cached property: the API's handlers read it, the pipeline holds it.
    container.__dict__["queue"] = queue
    container.pipeline.queue = queue
    try:
        yield queue
    finally:
        container.__dict__["queue"] = original
        container.pipeline.queue = original


@contextmanager
def duplicated(container: Any, *, copy_first: bool) -> Iterator[Duplicating]:
    with swapped_queue(container, lambda q: Duplicating(q, copy_first=copy_first)) as queue:
        yield queue


def calls_by_prompt(llm, model_name: str) -> Counter[str]:
    return Counter(
        json.dumps(body["messages"])
        for body in (json.loads(r.body) for r in llm.requests)
        if body.get("model") == model_name
    )


@pytest.mark.parametrize("copy_first", [False, True], ids=["original-first", "copy-first"])
@pytest.mark.parametrize("eval_type", ["exact", "judge"])
def test_every_task_delivered_twice_changes_nothing(ws, stack, hf, llm, eval_type, copy_first):
    url, rows = make_dataset(hf, llm, 12)  # 3 chunks per model at RUN_CHUNK_SIZE=5
    j = judge_model(llm)
    judge = {"judge_provider": "OpenRouter", "judge_model": j.name} if eval_type == "judge" else {}
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type=eval_type, **judge)
    models = {}
    for acc in (0.8, 0.35):
        m = model(llm, acc, latency_ms=30)
        models[add_openrouter(ws, lb["id"], m)] = m
    with duplicated(ws.container, copy_first=copy_first) as queue:
        run = run_to_end(ws, stack, lb["id"], {"use_cache": False})
    assert queue.copies >= 1 + 2 * 3 + 1, "not every task was duplicated"
    assert run["status"] == "completed", run
    expected = expected_scores(models, rows)
    for r in run["results"]:
        lm = r["leaderboard_model_id"]
        assert (r["n"], r["errors"], r["unscored"]) == (12, 0, 0), r
        assert r["score"] == pytest.approx(sum(expected[lm]) / 12)
    # One call per sample and model, one judge call per answer: no duplicate paid twice.
    for m in models.values():
        per_prompt = calls_by_prompt(llm, m.name)
        assert len(per_prompt) == 12 and set(per_prompt.values()) == {1}, per_prompt
    judged = calls_by_prompt(llm, j.name)
    if eval_type == "judge":
        # Two models that gave the same answer send the judge the same prompt (the cache is
        # off here, so it is asked twice); otherwise one call per answer.
        pairs = Counter((q, llm.answer_for(m.name, q)) for m in models.values() for q in rows)
        assert sum(judged.values()) == 24
        assert sorted(judged.values()) == sorted(pairs.values()), judged
    else:
        assert judged == Counter()
    # Every sample's score is stored once and stays: no late write took a cell back.
    for lm in models:
        samples = ws.http.get(
            f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
        ).json()["items"]
        assert [s["score"] for s in samples] == expected[lm]
