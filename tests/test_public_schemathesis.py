"""Schemathesis against the public leaderboard's own OpenAPI document, as
``tests/test_schemathesis.py`` does for the private API: every phase, no 5xx, every answer as
documented. Twice: as a workspace (publish, profiles) and as a platform admin (categories,
badges, verification); public reads are exercised by both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.public_helpers import P, admin_client, create_agent, create_category, publish, stored_run
from tests.test_schemathesis import PHASES, run_schemathesis


def _schemathesis(base_url: str, token: str, tmp_path: Path) -> dict:
    config = tmp_path / "schemathesis.toml"
    config.write_text("[cache]\nenabled = false\n\n[phases.stateful]\nmax-steps = 10\n")
    data: dict = run_schemathesis(
        config, f"{base_url}{P}/openapi.json", token=token, report=tmp_path / "report.json"
    )
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
