"""The Firebase Auth emulator for the local stack and the tests.

firebase-tools (pinned in ``package.json``, installed by ``make`` with ``npm ci``) runs it
offline; it is Node only, no JVM. firebase-admin talks to it when ``FIREBASE_AUTH_EMULATOR_HOST``
is set: it then accepts the emulator's unsigned ID tokens and manages its users, exactly the
calls it makes to the real service in production.

Each emulator gets its own hub and logging ports (firebase-tools reserves 4400 and 4500 by
default), so several can run side by side (one per test worker, or beside ``make dev``).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from infra.emulator import Emulator, EmulatorError
from infra.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
FIREBASE_CLI = ROOT / "node_modules" / ".bin" / "firebase"
DEFAULT_HOST = "127.0.0.1:9099"


class AuthEmulator(Emulator):
    name = "Firebase Auth emulator"

    def __init__(self, host_port: str = DEFAULT_HOST, project: str = "demo-podium") -> None:
        super().__init__(host_port, project)

    def command(self, workdir: Path) -> list[str]:
        if not FIREBASE_CLI.exists():
            raise EmulatorError(
                f"No firebase-tools at {FIREBASE_CLI}: run `make dev` or `make test`, which "
                "install it with `npm ci` (Node.js 20+ and npm are needed)"
            )
        host, port = self.host_port.rsplit(":", 1)
        config = {
            "emulators": {
                "auth": {"host": host, "port": int(port)},
                "hub": {"host": host, "port": free_port()},
                "logging": {"host": host, "port": free_port()},
                "ui": {"enabled": False},
                "singleProjectMode": True,
            }
        }
        (workdir / "firebase.json").write_text(json.dumps(config))
        return [
            str(FIREBASE_CLI), "emulators:start", "--only", "auth",
            "--project", self.project, "--config", str(workdir / "firebase.json"),
        ]  # fmt: skip

    def reset(self) -> None:
        """Delete every user (the emulator's own endpoint for it)."""
        url = f"http://{self.host_port}/emulator/v1/projects/{self.project}/accounts"
        req = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310 (loopback)
            pass
