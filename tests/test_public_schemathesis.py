"""Schemathesis against the public leaderboard's own OpenAPI document, as
``tests/test_schemathesis.py`` does for the private API: every phase, no 5xx, every answer as
documented. Twice: as a workspace (publish, profiles) and as a platform admin (categories,
badges, verification); public reads are exercised by both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.public_helpers import P, admin_client, create_agent, create_category, publish, stored_run
from tests.test_schemathesis import CHECKS, FUZZ_EXAMPLES, MAX_EXAMPLES, PHASES, SEED


def _schemathesis(base_url: str, token: str, tmp_path: Path) -> dict:
    config = tmp_path / "schemathesis.toml"
    config.write_text("[cache]\nenabled = false\n\n[phases.stateful]\nmax-steps = 10\n")
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{base_url}{P}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(PHASES),
        "--max-examples",
        str(MAX_EXAMPLES),
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
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    print(result.stdout[-20_000:])
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    data: dict = json.loads(report.read_text())
    assert {name: p["status"] for name, p in data["phases"].items()} == dict.fromkeys(
        PHASES, "success"
    )
    return data


@pytest.mark.parametrize("caller", ["workspace", "admin"])
def test_the_public_api_conforms_to_its_openapi_document(caller, ws, container, base_url, tmp_path):
    admin = admin_client(container, base_url)
    # Something on a board, so reads and the stateful phase meet real entries.
    cat = create_category(admin)
    agent = create_agent(ws.http)
    publish(ws.http, stored_run(container, ws.id), cat["slug"], agent["id"])
    token = ws.token if caller == "workspace" else admin.headers["Authorization"].split()[1]
    data = _schemathesis(base_url, token, tmp_path)
    documented = ws.http.get(f"{P}/openapi.json").json()["paths"]
    operations = sum(len(ops) for ops in documented.values())
    # Every operation but the document itself.
    assert data["operations"]["tested"] == data["operations"]["total"] == operations - 1
    assert data["test_cases"]["generated"] > 0
    assert not any(p.startswith("/leaderboard") for p in documented)  # pages are not API
