"""``make dev``: the whole stack on one machine, in the foreground.

Starts the Firestore emulator at FIRESTORE_EMULATOR_HOST (or uses one already listening
there), serves every function on PORT through the production path map, makes sure a demo
workspace exists and prints a fresh token for it. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from infra.emulator import DEFAULT_HOST, FirestoreEmulator


def _defaults() -> None:
    # Settings a developer can override; these are the local stack's defaults.
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", DEFAULT_HOST)
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "demo-podium")
    os.environ.setdefault("PORT", "8080")
    os.environ.setdefault("PODIUM_ALLOW_PRIVATE_ENDPOINTS", "true")


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


def main() -> int:
    _defaults()
    from infra.gateway import serve
    from shared import bootstrap
    from shared.boot import boot

    # As each function does at start: settings checked, logs as structured JSON lines.
    boot("local stack")
    from shared.tasks.local import LocalDispatcher

    emulator = FirestoreEmulator(
        os.environ["FIRESTORE_EMULATOR_HOST"], os.environ["GOOGLE_CLOUD_PROJECT"]
    )
    emulator.start()
    stopping = threading.Event()
    server = None
    dispatcher = None
    try:
        server = serve("127.0.0.1", int(os.environ["PORT"]))
        # Cloud Tasks, locally: tasks reach the workers through this same port.
        dispatcher = LocalDispatcher(base_url=f"http://127.0.0.1:{server.port}")
        bootstrap.set_container(bootstrap.Container(queue=dispatcher))
        dispatcher.start()
        token = demo_token()
        ticker = threading.Thread(
            target=_tick_forever,
            args=(
                f"http://127.0.0.1:{server.port}",
                bootstrap.container().settings.scheduler_tick_seconds,
                stopping,
            ),
            daemon=True,
        )
        ticker.start()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print(
            f"Podium API on http://127.0.0.1:{server.port} "
            f"(Firestore emulator {emulator.host_port}) "
            f"- demo workspace token: {token}",
            flush=True,
        )
        server.serve_forever()
    finally:
        if dispatcher is not None:
            dispatcher.stop(timeout=5)
        if server is not None:
            server.server_close()
        emulator.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
