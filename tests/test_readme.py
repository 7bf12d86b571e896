"""The README's curl examples, run as written against the local stack.

Each ```bash block is read like a shell would read it, in order: ``export`` sets a variable
(an ``…`` placeholder takes the id of the previous response), a ``cat > f <<'X'`` heredoc
writes a file, and each ``curl`` is parsed with shlex and sent with httpx. Every request must
succeed. curl and jq themselves are not needed, so this runs on any machine.

The examples run on what ``make dev`` serves beside the API: the shipped dataset from its local
Hub-compatible host (here, the same file on the HF stand-in) and SmolLM2 on llama.cpp (here, the
suite's real server of it). The run they start must complete on the model's real answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import httpx

from infra.dev import DEMO_DATA, DEMO_REPO
from tests.conftest import HF_ENDPOINT

# Where `make dev` serves the shipped datasets and its local model (PODIUM_DATA_PORT,
# PODIUM_MODEL_PORT): the addresses the README's examples use.
DEV_DATA = "http://127.0.0.1:8082"
DEV_MODEL = "http://127.0.0.1:8083/v1"
DEV_AUTH = "http://127.0.0.1:9099"  # FIREBASE_AUTH_EMULATOR_HOST's default

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def shell_commands(text: str) -> list[str]:
    """Join continuation lines, keep heredocs whole, drop comments and ``| jq``."""
    commands: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"cat > (\S+) <<'(\w+)'", line):
            end = lines.index(m[2], i + 1)
            commands.append("HEREDOC " + m[1] + "\n" + "\n".join(lines[i + 1 : end]))
            i = end + 1
            continue
        cmd = line
        while cmd.rstrip().endswith("\\") or (cmd.count("'") % 2 == 1):
            i += 1
            cmd = cmd.rstrip().removesuffix("\\") + ("\n" if cmd.count("'") % 2 else " ") + lines[i]
        i += 1
        cmd = re.sub(r"\s+#[^'\"]*$", "", cmd).strip()
        cmd = re.sub(r"\s*\|\s*jq\s*$", "", cmd)
        if cmd and not cmd.startswith("#"):
            commands.append(cmd)
    return commands


def run_curl(argv: list[str], env: dict[str, str], files: dict[str, str]) -> httpx.Response:
    method, url, headers, data = "GET", None, {}, None
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-sS", "-s", "-S"):
            continue
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = next(args)
            if data.startswith("@"):
                data = files[data[1:]]
            if method == "GET":
                method = "POST"
        else:
            url = arg
    assert url, argv
    return httpx.request(method, url, headers=headers, content=data, timeout=30)


def expand(cmd: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env[m[1] or m[2]], cmd)


def test_readme_curl_examples_work(base_url, ws, stack, hf, smollm2):
    for file in DEMO_DATA.glob("*.jsonl"):
        hf.add_file(DEMO_REPO, file.name, file.read_bytes())
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using the API", 1)[1].split("### Behaviour", 1)[0]
    env: dict[str, str] = {}
    files: dict[str, str] = {}
    last: dict[str, Any] = {}
    ran = 0
    runs_completed: dict[str, dict[str, Any]] = {}  # by leaderboard id
    for block in BLOCK.findall(section):
        for cmd in shell_commands(block):
            if cmd.startswith("HEREDOC "):
                header, body = cmd.split("\n", 1)
                files[header.split()[1]] = body
                continue
            argv = shlex.split(cmd)
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                # The README's placeholders: the local stack's address and token, ids from
                # the previous response.
                if name == "API_BASE":
                    value = base_url
                elif name == "DRGERO_TOKEN":
                    value = ws.token
                elif "…" in value:
                    value = last["idToken"] if name == "ID_TOKEN" else last["id"]
                env[name] = value
                continue
            assert argv[0] == "curl", cmd
            # The README's Hub URLs are the spec's; this deployment's Hub is HF_ENDPOINT.
            here = expand(cmd, env).replace("https://huggingface.co", HF_ENDPOINT)
            here = here.replace(DEV_DATA, HF_ENDPOINT).replace(DEV_MODEL, smollm2.base_url)
            here = here.replace(DEV_AUTH, f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}")
            argv = shlex.split(here)
            resp = run_curl(argv, env, files)
            assert resp.status_code < 300, (cmd, resp.status_code, resp.text)
            last = resp.json()
            ran += 1
            if resp.request.method == "POST" and resp.request.url.path.endswith("/run"):
                # Poll as the README says, once the dispatcher has delivered every task.
                assert stack.dispatcher.join(timeout=240), "the run's tasks did not drain"
                path = f"{resp.request.url.path}s/{last['id']}"  # …/run → …/runs/{id}
                runs_completed[path.split("/")[3]] = ws.http.get(path).json()
    assert ran >= 12, f"only {ran} examples ran: is the README section intact?"
    # The examples left the stack in the state they describe.
    assert last == {"deleted": True, "id": env["LEADERBOARD_ID"]}
    assert json.loads(files["schedule.json"])["version"] == 2
    # Every run the examples start completes; the first, on the shipped sums, ran for real:
    # SmolLM2 answered all 36, each answer scored.
    assert runs_completed and all(r["status"] == "completed" for r in runs_completed.values())
    (result,) = runs_completed[env["LEADERBOARD_ID"]]["results"]
    assert (result["n"], result["errors"], result["success_rate"]) == (36, 0, 1.0)
