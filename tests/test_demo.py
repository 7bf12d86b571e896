"""``make demo`` as a newcomer runs it (``DEMO_ONCE=1``): the real stack, two llama.cpp servers
with SmolLM2, the shipped dataset from the local Hub-compatible host, a completed run, and the
ranking table printed; exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from infra.processes import free_port
from tests.test_auth import ROOT


def test_make_demo_runs_the_main_job_on_real_local_models(emulator):
    # The suite's quick provider settings (a 2 s timeout, conftest.TEST_SETTINGS) are in
    # os.environ by now; a newcomer's make demo has the defaults, and a CPU-bound model on a
    # loaded machine needs them.
    quick = ("PROVIDER_TIMEOUT_SECONDS", "PROVIDER_MAX_RETRIES",
             "PROVIDER_MAX_RETRY_WAIT_SECONDS", "TASK_MAX_ATTEMPTS")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in quick}
    env |= {"DEMO_ONCE": "1", "PORT": str(free_port()), "SAMPLE_CONCURRENCY": "4",
            "RUN_CHUNK_SIZE": "50"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "infra.demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = done.stdout.replace("\r", "\n")
    assert done.returncode == 0, out + done.stderr
    assert "[##############################] 72/72 samples" in out
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    assert header.split() == [
        "rank",
        "model",
        "score",
        "(95%",
        "CI)",
        "n",
        "p50",
        "ms",
        "tokens",
        "in/out",
        "cost",
        "$",
    ]
    rows = [line for line in out.splitlines() if re.match(r"\d+\s+SmolLM2-135M ", line)]
    assert len(rows) == 2, out
    for row in rows:
        score = re.search(r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]\s+36\s", row)
        assert score, row
        low, mid, high = float(score[2]), float(score[1]), float(score[3])
        assert low <= mid <= high
    assert re.search(r"Podium API on http://127\.0\.0\.1:\d+ - token: podium_\S+ - "
                     r"leaderboard: lb_\w+", out)  # fmt: skip
    # Nothing but the demo on the terminal: the stack's JSON logs went to .local/demo.
    assert not any(line.startswith("{") for line in out.splitlines())
