"""``make dev``'s program (``python -m infra.dev``), run as a newcomer runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from infra.emulator import is_listening
from tests.conftest import GET_LEADERBOARD, HF_ENDPOINT, free_port

ROOT = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"Podium API on (http://\S+) .* token: (podium_\S+)")
LOCAL_MODEL = re.compile(r"^Local model \(.*\): (http://\S+)$", re.M)
DATASETS = re.compile(r"^Datasets \(HF_ENDPOINT (\S+)\): (http://\S+)$", re.M)


def start_dev(env_overrides: dict[str, str]) -> tuple[subprocess.Popen[str], str, str, str]:
    """Start ``python -m infra.dev``; (process, API URL, token, everything it printed)."""
    env = {
        **os.environ,
        "HF_ENDPOINT": HF_ENDPOINT,
        "PODIUM_DATA_PORT": str(free_port()),
        "PODIUM_MODEL_PORT": str(free_port()),
        **env_overrides,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith("Datasets (") and (m := BANNER.search("".join(seen))):
            # Keep reading: every request logs a line, and a full pipe would block the stack.
            threading.Thread(target=seen.extend, args=(proc.stdout,), daemon=True).start()
            return proc, m[1], m[2], "".join(seen)
    proc.kill()
    raise AssertionError("make dev printed no banner:\n" + "".join(seen))


def accepts(host_port: str) -> bool:
    """Whether anything accepts connections at ``host_port``."""
    host, port = host_port.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


def test_dev_starts_everything_and_ctrl_c_stops_it(hf, llm):
    from tests.test_runs import make_dataset, model

    port, emu = free_port(), f"127.0.0.1:{free_port()}"
    proc, url, token, banner = start_dev(
        {
            "PORT": str(port),
            "FIRESTORE_EMULATOR_HOST": emu,
            "OPENROUTER_BASE_URL": llm.openrouter_base_url,
        }
    )
    model_url = LOCAL_MODEL.search(banner)
    datasets = DATASETS.search(banner)
    assert model_url and datasets, banner
    model_base = model_url[1].removesuffix("/v1")
    try:
        assert url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz").status_code == 200
        # The local model and the shipped data, health-checked before the banner. HF_ENDPOINT
        # was set here (to the stand-in), so make dev left it alone.
        assert httpx.get(f"{model_base}/health").status_code == 200
        assert datasets[1] == HF_ENDPOINT
        shipped = httpx.get(datasets[2])
        assert shipped.status_code == 200 and shipped.headers["X-Repo-Commit"]
        assert shipped.content == (ROOT / "infra/demo_data/arithmetic.jsonl").read_bytes()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        created = client.post("/api/leaderboards", json=GET_LEADERBOARD)
        assert created.status_code == 201, created.text
        # The demo workspace is on the pro plan, so every spec example works.
        lb = created.json()["id"]
        sched = {"version": 2, "triggers": {"cron": {"enabled": True, "expression": "0 6 * * 1"}}}
        assert client.patch(f"/api/leaderboards/{lb}", json=sched).status_code == 200
        # Task dispatch works: a run goes from queued to completed with no test machinery.
        data_url, rows = make_dataset(hf, llm, 6)
        m = model(llm, 1.0)
        exact = {**GET_LEADERBOARD, "dataset_url": data_url, "eval_type": "exact"}
        lb2 = client.post("/api/leaderboards", json=exact).json()["id"]
        client.post(
            f"/api/leaderboards/{lb2}/models",
            json={"name": "m", "platform": "OpenRouter", "model_url": m.name},
        )
        run = client.post(f"/api/leaderboards/{lb2}/run", json={}).json()
        deadline = time.monotonic() + 60
        while (status := client.get(f"/api/leaderboards/{lb2}/runs/{run['id']}").json())[
            "status"
        ] in ("queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "completed", status
        assert status["results"][0]["score"] == 1.0 and status["results"][0]["n"] == len(rows)
    finally:
        code = stop(proc)
    assert code == 0
    assert not is_listening(emu), "the emulator make dev started must stop with it"
    assert not accepts(model_base.removeprefix("http://")), "the model server must stop too"
    assert not accepts(datasets[2].split("/")[2]), "and the dataset host"
    logs = list((ROOT / ".local" / "dev").glob(f"llama-server-{model_base.rsplit(':', 1)[1]}.log"))
    assert logs and logs[0].stat().st_size > 0, "the model server's log is kept"
    try:
        httpx.get(f"{url}/healthz", timeout=2)
        raise AssertionError("the API still answers after Ctrl-C")
    except httpx.TransportError:
        pass


def test_dev_reuses_a_running_emulator_and_leaves_it_running(emulator):
    port = free_port()
    proc, url, token, _ = start_dev(
        {"PORT": str(port), "FIRESTORE_EMULATOR_HOST": emulator.host_port}
    )
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
        # A second start reuses the demo workspace and prints a new token for it.
    finally:
        assert stop(proc) == 0
    assert is_listening(emulator.host_port)
    proc2, url2, token2, _ = start_dev(
        {"PORT": str(port), "FIRESTORE_EMULATOR_HOST": emulator.host_port}
    )
    try:
        assert token2 != token
        old = httpx.get(f"{url2}/api/leaderboards", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 200  # earlier tokens of the demo workspace stay valid
    finally:
        assert stop(proc2) == 0
