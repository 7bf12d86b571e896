"""The Firestore emulator for the local stack and the tests.

``gcloud emulators firestore start`` when the Cloud SDK has it; otherwise firebase-tools from
npm (``npx firebase-tools emulators:start``). The emulator runs in its own process group so
stopping it stops the JVM that gcloud spawns too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.processes import answers_ok, stop_group

DEFAULT_HOST = "127.0.0.1:8081"


class EmulatorError(RuntimeError):
    pass


def is_listening(host_port: str) -> bool:
    return answers_ok(f"http://{host_port}/")


def _command(host_port: str, project: str, workdir: Path) -> list[str]:
    gcloud = shutil.which("gcloud")
    if gcloud:
        return [gcloud, "emulators", "firestore", "start", f"--host-port={host_port}", "--quiet"]
    npx = shutil.which("npx")
    if npx:
        host, port = host_port.rsplit(":", 1)
        config = workdir / "firebase.json"
        config.write_text(
            json.dumps({"emulators": {"firestore": {"host": host, "port": int(port)}}})
        )
        return [
            npx, "--yes", "firebase-tools@13", "emulators:start", "--only", "firestore",
            "--project", project, "--config", str(config),
        ]  # fmt: skip
    raise EmulatorError(
        "No Firestore emulator: install the Google Cloud SDK with the cloud-firestore-emulator "
        "component (and Java 17+), or Node.js with npx for firebase-tools"
    )


class Emulator:
    """A local emulator process: started in its own process group on ``host_port`` (or reused
    when one already answers there), stopped whole. Subclasses say how to start it."""

    name = "emulator"

    def __init__(self, host_port: str, project: str) -> None:
        self.host_port = host_port
        self.project = project
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def started_here(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        """The emulator's process (and process group) id, if it was started here."""
        return self._proc.pid if self._proc is not None else None

    def command(self, workdir: Path) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 90.0) -> None:
        """Start the emulator, or reuse one already listening at ``host_port``."""
        if is_listening(self.host_port):
            return
        workdir = Path(tempfile.mkdtemp(prefix=f"podium-{self.name.split()[0].lower()}-"))
        self._log_path = workdir / "emulator.log"
        log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            self.command(workdir),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() takes the JVM down too
            cwd=workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_listening(self.host_port):
                return
            if self._proc.poll() is not None:
                break
            time.sleep(0.25)
        tail = self._log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise EmulatorError(f"{self.name} did not start at {self.host_port}:\n{tail}")

    def stop(self) -> None:
        if self._proc is None:
            return
        stop_group(self._proc)
        self._proc = None


class FirestoreEmulator(Emulator):
    name = "Firestore emulator"

    def __init__(self, host_port: str = DEFAULT_HOST, project: str = "demo-podium") -> None:
        super().__init__(host_port, project)

    def command(self, workdir: Path) -> list[str]:
        return _command(self.host_port, self.project, workdir)

    def reset(self) -> None:
        """Delete every document (the emulator's own endpoint for it)."""
        url = (
            f"http://{self.host_port}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        req = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310
            pass


@contextmanager
def running(
    host_port: str = DEFAULT_HOST, project: str = "demo-podium"
) -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator(host_port, project)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
