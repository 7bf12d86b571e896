"""Runs end to end: the real gateway, the local dispatcher, the emulator, and stand-ins for
Hugging Face and the model providers. Expected scores come from what the stand-ins imply."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.domain.statistics import summarize
from tests.conftest import create_leaderboard
from tests.standins.openai_server import (
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
