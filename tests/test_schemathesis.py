"""Schemathesis against our own OpenAPI document (issue 6, finding 3).

The CLI runs every phase (examples, coverage, fuzzing, and stateful sequences that follow the
document's links from a create to the created resource) over real HTTP against the gateway,
authenticated as a pro workspace, and checks that no answer is a 5xx and every answer conforms
to the document: a documented status, content type, headers and body schema.

In the suite it runs a few deterministic examples per operation (a fixed seed, and Hypothesis'
derandomised mode), so it adds well under a minute. ``make fuzz`` runs the same test with a
larger budget (``PODIUM_FUZZ_MAX_EXAMPLES``) and a seed (``PODIUM_FUZZ_SEED``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import GET_LEADERBOARD, create_leaderboard
from tests.people import sign_up
from tests.test_runs import PROMPT, add_openrouter, make_dataset, model, run_to_end

# ``make fuzz`` sets these; the suite's run is small and fully deterministic.
FUZZ_EXAMPLES = os.environ.get("PODIUM_FUZZ_MAX_EXAMPLES")
MAX_EXAMPLES = int(FUZZ_EXAMPLES or "4")
SEED = int(os.environ.get("PODIUM_FUZZ_SEED", "20261123"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Routes only a signed-in person may call (an API token gets 403).
SESSION_PATHS = "^/api/workspaces|/models/auto-select$"


def _config(tmp_path: Path, *, leaderboard_id: str, run_id: str, model_id: str) -> Path:
    """No crash cache (a run must not depend on the last one); the run operations get a real,
    finished run, which no generated id or link could produce (a run needs a dataset the
    Hugging Face stand-in serves); every other operation gets generated and linked ids."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
[cache]
enabled = false

[phases.stateful]
max-steps = 10

[[operations]]
include-path-regex = "/runs/"
parameters = {{ "path.leaderboard_id" = "{leaderboard_id}", "path.run_id" = "{run_id}", \
"query.model_id" = "{model_id}" }}
"""
    )
    return config


def run_schemathesis(
    config: Path, document_url: str, *, token: str, report: Path, only: list[str] = ()
) -> Any:
    """The schemathesis CLI on ``document_url``, as ``token``, with the suite's checks and
    phases (``only``: more CLI filters); asserts it passed and returns its JSON report."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        document_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(PHASES),
        "--max-examples",
        str(MAX_EXAMPLES),
        # Deterministic in the suite; a fuzz run explores more, reproducibly, from its seed.
        *(["--seed", str(SEED)] if FUZZ_EXAMPLES else ["--generation-deterministic"]),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        *only,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    print(result.stdout[-20_000:])
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    return json.loads(report.read_text())


def test_the_api_conforms_to_its_openapi_document(ws, stack, hf, llm, base_url, tmp_path):
    url, _ = make_dataset(hf, llm, 3)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    lm = add_openrouter(ws, lb["id"], model(llm, 0.5))
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    config = _config(tmp_path, leaderboard_id=lb["id"], run_id=run["id"], model_id=lm)

    document = f"{base_url}/api/openapi.json"
    # The workspace's routes as an API token; a signed-in person's own routes as a session
    # (an API token gets 403 there), in a workspace of the person's own.
    sessions = ["--include-path-regex", SESSION_PATHS]
    person = sign_up(base_url, "fuzzer")
    created = person.client().post("/api/workspaces", json={"name": "fuzz"})
    assert created.status_code == 201
    own_lb = person.client().post("/api/leaderboards", json=GET_LEADERBOARD).json()["id"]
    session_config = tmp_path / "session.toml"
    session_config.write_text(
        config.read_text()
        + f"""
[[operations]]
include-path-regex = "^/api/workspaces/"
parameters = {{ "path.workspace_id" = "{created.json()["id"]}" }}

[[operations]]
include-path-regex = "/auto-select$"
parameters = {{ "path.leaderboard_id" = "{own_lb}" }}
"""
    )
    reports = {
        "token": run_schemathesis(
            config,
            document,
            token=ws.token,
            report=tmp_path / "token.json",
            only=["--exclude-path-regex", SESSION_PATHS],
        ),
        "session": run_schemathesis(
            session_config,
            document,
            token=person.id_token,
            report=tmp_path / "session.json",
            only=sessions,
        ),
    }
    documented = ws.http.get("/api/openapi.json").json()["paths"]
    per_path = {path: len(ops) for path, ops in documented.items()}
    session_ops = sum(n for path, n in per_path.items() if re.search(SESSION_PATHS, path))
    # Every operation but GET /api/openapi.json, which the CLI leaves out as the document's own
    # address (seen in its ndjson report).
    expected = {"token": sum(per_path.values()) - session_ops - 1, "session": session_ops}
    for name, data in reports.items():
        # A green run must also have tested something: every operation it selected, in every
        # phase.
        print(name, json.dumps({k: data[k] for k in ("running_time", "test_cases", "phases")}))
        assert data["operations"]["tested"] == expected[name]
        assert {name: p["status"] for name, p in data["phases"].items()} == dict.fromkeys(
            PHASES, "success"
        )
        assert data["test_cases"]["generated"] > 0 and not data["warnings"]["missing_auth"]
