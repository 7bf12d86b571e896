"""``make dev``: the whole stack on one machine, in the foreground.

Starts the Firestore emulator at FIRESTORE_EMULATOR_HOST and the Firebase Auth emulator at
FIREBASE_AUTH_EMULATOR_HOST (or uses ones already listening there), serves every function on
PORT through the production path map, makes sure a demo workspace exists and prints a fresh
token for it. Beside it, like the emulators, the parts a run needs that would otherwise be on
the internet: a local Hugging Face-compatible host serving the shipped datasets
(``infra/demo_data``, on PODIUM_DATA_PORT, and HF_ENDPOINT unless set) and a llama.cpp server
with SmolLM2-135M-Instruct (on PODIUM_MODEL_PORT), so the README's run example completes on real
answers. Logs of the model server go to ``.local/dev/``. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from infra.auth_emulator import DEFAULT_HOST as AUTH_DEFAULT_HOST
from infra.auth_emulator import AuthEmulator
from infra.dataset_host import DatasetHost
from infra.emulator import DEFAULT_HOST, FirestoreEmulator
from infra.model_servers import SMOLLM2_135M, ModelServer

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATA = ROOT / "infra" / "demo_data"
DEMO_REPO = "podium/demo"  # the dataset repository the shipped files appear as
MODEL_SLOTS = 4  # the model server's slots; PROVIDER_CONCURRENCY defaults to match


def _defaults() -> None:
    # Settings a developer can override; these are the local stack's defaults.
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", DEFAULT_HOST)
    os.environ.setdefault("FIREBASE_AUTH_EMULATOR_HOST", AUTH_DEFAULT_HOST)
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "demo-podium")
    os.environ.setdefault("PORT", "8080")
    os.environ.setdefault("PODIUM_ALLOW_PRIVATE_ENDPOINTS", "true")
    os.environ.setdefault("PODIUM_DATA_PORT", "8082")
    os.environ.setdefault("PODIUM_MODEL_PORT", "8083")


def demo_token() -> str:
    from shared.bootstrap import container
    from shared.domain.auth import ALL_SCOPES
    from shared.services import access

    c = container()
    if c.workspaces.get("demo") is None:
        access.create_workspace(
            workspaces=c.workspaces, clock=c.clock, name="Demo", plan="pro", workspace_id="demo"
        )
    token, _ = access.mint_token(
        tokens=c.tokens,
        workspaces=c.workspaces,
        clock=c.clock,
        workspace_id="demo",
        scopes=ALL_SCOPES,
        name="make dev",
    )
    return token


def _tick_forever(base_url: str, every: float, stopping: threading.Event) -> None:
    """Cloud Scheduler, locally: POST /tasks/tick on the gateway every ``every`` seconds."""
    import httpx

    while not stopping.wait(every):
        try:
            httpx.post(f"{base_url}/tasks/tick", timeout=60)
        except httpx.HTTPError as exc:
            print(f"scheduler tick failed: {exc}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    emulator_host: str
    auth_emulator_host: str
    token: str  # a fresh all-scopes token for the demo workspace


@contextmanager
def local_stack(*, log_stream: IO[str] | None = None) -> Iterator[RunningStack]:
    """The whole stack, serving in the background until the block ends: the emulator (started,
    or reused when one listens at FIRESTORE_EMULATOR_HOST), every function on PORT, the task
    dispatcher, the scheduler tick. Settings come from the environment, as in production."""
    _defaults()
    from infra.gateway import serve
    from shared import bootstrap
    from shared.boot import boot
    from shared.logs import setup_logging

    if log_stream is not None:  # before boot(), which keeps the first handler installed
        setup_logging(project=os.environ["GOOGLE_CLOUD_PROJECT"], stream=log_stream)
    # As each function does at start: settings checked, logs as structured JSON lines.
    boot("local stack")
    from shared.tasks.local import LocalDispatcher

    emulator = FirestoreEmulator(
        os.environ["FIRESTORE_EMULATOR_HOST"], os.environ["GOOGLE_CLOUD_PROJECT"]
    )
    emulator.start()
    auth_emulator = AuthEmulator(
        os.environ["FIREBASE_AUTH_EMULATOR_HOST"], os.environ["GOOGLE_CLOUD_PROJECT"]
    )
    stopping = threading.Event()
    server = None
    dispatcher = None
    try:
        auth_emulator.start()
        server = serve("127.0.0.1", int(os.environ["PORT"]))
        base_url = f"http://127.0.0.1:{server.port}"
        # Cloud Tasks, locally: tasks reach the workers through this same port.
        dispatcher = LocalDispatcher(base_url=base_url)
        bootstrap.set_container(bootstrap.Container(queue=dispatcher))
        dispatcher.start()
        token = demo_token()
        every = bootstrap.container().settings.scheduler_tick_seconds
        threading.Thread(target=server.serve_forever, daemon=True).start()
        threading.Thread(
            target=_tick_forever, args=(base_url, every, stopping), daemon=True
        ).start()
        yield RunningStack(base_url, emulator.host_port, auth_emulator.host_port, token)
    finally:
        stopping.set()
        if server is not None:
            server.shutdown()
        if dispatcher is not None:
            dispatcher.stop(timeout=5)
        if server is not None:
            server.server_close()
        auth_emulator.stop()
        emulator.stop()


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stop.wait()


def _port(name: str) -> int:
    value = os.environ[name]
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"{name} must be a TCP port, not {value!r}")
    return int(value)


def main() -> int:
    _defaults()
    logs = ROOT / ".local" / "dev"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            data = DatasetHost(DEMO_REPO, DEMO_DATA).start(port=_port("PODIUM_DATA_PORT"))
        except OSError as exc:
            raise SystemExit(f"PODIUM_DATA_PORT {os.environ['PODIUM_DATA_PORT']}: {exc}") from exc
        stack.callback(data.stop)
        # Offline by default, like the emulator; HF_ENDPOINT=https://huggingface.co for the Hub.
        os.environ.setdefault("HF_ENDPOINT", data.endpoint)
        os.environ.setdefault("PROVIDER_CONCURRENCY", str(MODEL_SLOTS))
        model = stack.enter_context(
            ModelServer(
                SMOLLM2_135M, port=_port("PODIUM_MODEL_PORT"), slots=MODEL_SLOTS, log_dir=logs
            )
        )
        podium = stack.enter_context(local_stack())
        print(
            f"Podium API on {podium.base_url} (Firestore emulator {podium.emulator_host}, "
            f"Auth emulator {podium.auth_emulator_host}) "
            f"- demo workspace token: {podium.token}\n"
            f"Local model ({SMOLLM2_135M.name}, a Custom candidate's model_url): "
            f"{model.base_url}\n"
            f"Datasets (HF_ENDPOINT {os.environ['HF_ENDPOINT']}): "
            + ", ".join(data.url_for(f.name) for f in sorted(DEMO_DATA.glob("*.jsonl"))),
            flush=True,
        )
        wait_for_signal()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
