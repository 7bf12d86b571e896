"""Progress in constant reads: scored cells are counted in the run's counter shards in the same
commit that scores them, exactly once, however often the tasks are delivered."""

from __future__ import annotations

from shared.repositories.runs import PROGRESS_SHARDS
from shared.services.pipeline import TaskRef
from tests.conftest import create_leaderboard
from tests.test_runs import PROMPT, add_openrouter, make_dataset, model, run_to_end


def test_counters_count_each_scored_cell_once(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 12)  # RUN_CHUNK_SIZE 5 in tests: 3 chunks
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    models = [add_openrouter(ws, lb["id"], model(llm, a)) for a in (1.0, 0.5)]
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed"
    c = ws.container
    assert c.runs.progress(ws.id, lb["id"], run["id"]) == (6, 24)
    shards = (
        c.db.collection("workspaces").document(ws.id).collection("leaderboards")
        .document(lb["id"]).collection("runs").document(run["id"]).collection("progress")
    )  # fmt: skip
    assert 1 <= len(list(shards.stream())) <= PROGRESS_SHARDS

    # Late duplicates of every task change nothing: a scored cell is never saved again.
    c.runs.transition(ws.id, lb["id"], run["id"], allowed_from=["completed"],
                      fields={"status": "running"})  # fmt: skip
    for m in models:
        for chunk in range(3):
            ref = TaskRef(ws.id, lb["id"], run["id"], m, chunk)
            c.pipeline.infer(ref, final_attempt=False)
            c.pipeline.judge(ref, final_attempt=False)
    assert c.runs.progress(ws.id, lb["id"], run["id"]) == (6, 24)
    assert stack.dispatcher.join(timeout=60)
