"""The README's public leaderboard examples, run as written against the local stack (as
``tests/test_readme.py`` does for the private API)."""

from __future__ import annotations

import shlex
from typing import Any

from tests.public_helpers import admin_client, stored_run
from tests.test_readme import BLOCK, ROOT, expand, run_curl, shell_commands


def test_readme_public_leaderboard_examples_work(base_url, ws, container):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The public leaderboard", 1)[1].split("How it behaves", 1)[0]
    admin = admin_client(container, base_url)
    placeholders = {
        "API_BASE": base_url,
        "DRGERO_TOKEN": ws.token,
        "ADMIN_TOKEN": admin.headers["Authorization"].split()[1],
        # A completed run of the workspace, as the pipeline stores it.
        "SUITE_EXECUTION_ID": stored_run(container, ws.id),
    }
    # Exported earlier in the README.
    env: dict[str, str] = {"API_BASE": base_url, "DRGERO_TOKEN": ws.token}
    last: dict[str, Any] = {}
    ran = 0
    for block in BLOCK.findall(section):
        for cmd in shell_commands(block):
            argv = shlex.split(cmd)
            if argv[0].endswith("python"):  # the operator CLI: tested in test_public_api.py
                continue
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                value = placeholders.get(name, value)
                if "…" in value:
                    value = str(last["id"])
                env[name] = value
                continue
            assert argv[0] == "curl", cmd
            resp = run_curl(shlex.split(expand(cmd, env)), env, {})
            assert resp.status_code < 300, (cmd, resp.status_code, resp.text)
            last = resp.json()
            ran += 1
    assert ran >= 15, f"only {ran} examples ran: is the README section intact?"
    # The examples left the state they describe: verified, badged, retired.
    board = admin.get("/api/public/leaderboard", params={"category": "coding"}).json()
    (entry,) = board["entries"]
    assert entry["is_verified"] and entry["agent_badges"] == ["official"]
    assert last["is_active"] is False
    admin.close()
