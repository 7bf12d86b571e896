"""The Cloud Tasks API emulator (PyPI ``gcloud-tasks-emulator``), for testing CloudTasksQueue.

It cannot live in .venv: it pins protobuf<5, and google-cloud-tasks 2.26 there needs a newer
one. So it gets its own virtualenv, ``.venv-tasks-emulator`` at the repo root, built on first
use (a few seconds), guarded by a file lock so parallel test processes build it once.

What 0.6.2 does, read from its source and checked in tests/test_cloud_tasks_adapter.py:
- stores tasks as sent (URL, method, headers, body, OIDC token fields, schedule_time) and
  returns them from ListTasks; needs the queue to exist (FAILED_PRECONDITION otherwise);
- dispatches HTTP tasks to their own URL with X-CloudTasks-* headers, holding tasks whose
  schedule_time is in the future.
What it does not: reject duplicate task names (no ALREADY_EXISTS), validate names, mint an
OIDC token (no Authorization header), send the short queue id in X-CloudTasks-QueueName (it
sends the full path), or apply rate limits and retry config (a failed task is retried every
~0.1 s, forever unless ``max_retries`` is given).

Run by hand: ``.venv/bin/python -m infra.tasks_emulator`` prints the address and blocks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import grpc  # type: ignore[import-untyped]
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from infra.processes import free_port

EMULATOR_VERSION: Final = "0.6.2"
# Upstream leaves its dependencies open; these are the versions it was verified with, so a new
# google-cloud-tasks 2.x release cannot break the tests from one day to the next.
REQUIREMENTS: Final[tuple[str, ...]] = (
    f"gcloud-tasks-emulator=={EMULATOR_VERSION}",
    "google-cloud-tasks==2.23.0",
    "google-api-core==2.30.3",
    "googleapis-common-protos==1.75.0",
    "grpcio==1.85.1",
    "grpcio-status==1.62.3",
    "proto-plus==1.28.2",
    "protobuf==4.25.9",
    "PyYAML==6.0.3",
)
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_VENV: Final = REPO_ROOT / ".venv-tasks-emulator"
_INSTALL_TIMEOUT: Final = 600.0
_STAMP: Final = ".podium-requirements"


class EmulatorUnavailable(RuntimeError):
    """The emulator could not be installed or started; the message says why."""


@dataclass(frozen=True)
class TasksEmulator:
    host: str
    port: int
    startup_seconds: float  # from launch to the first answered API call (install excluded)
    log_path: Path

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self) -> tasks_v2.CloudTasksClient:
        channel = grpc.insecure_channel(self.target)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def ensure_installed(venv: Path = DEFAULT_VENV) -> Path:
    """Build ``venv`` with the pinned emulator unless it is already there; return the
    emulator's executable. A stamp file records what was installed, so a changed pin (or a
    half-finished earlier build) rebuilds from scratch."""
    executable = venv / "bin" / "gcloud-tasks-emulator"
    stamp = venv / _STAMP
    wanted = "\n".join(REQUIREMENTS)
    with _install_lock(venv):
        if executable.exists() and stamp.exists() and stamp.read_text() == wanted:
            return executable
        # The running interpreter (3.11, like the project) builds it; from inside .venv,
        # `-m venv` uses the base interpreter, so the new venv does not nest in the old.
        _run([sys.executable, "-m", "venv", "--clear", str(venv)], "create the virtualenv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _run([*pip, "--disable-pip-version-check", *REQUIREMENTS], f"install {REQUIREMENTS[0]}")
        if not executable.exists():
            raise EmulatorUnavailable(f"pip installed the emulator but {executable} is missing")
        stamp.write_text(wanted)
    return executable


@contextlib.contextmanager
def tasks_emulator(
    *,
    port: int | None = None,
    max_retries: int | None = None,
    startup_timeout: float = 30.0,
    venv: Path = DEFAULT_VENV,
) -> Iterator[TasksEmulator]:
    """Install if needed, start the emulator on ``port`` (a free one by default), wait until it
    answers, yield it, and stop it. Raises EmulatorUnavailable when any step fails."""
    executable = ensure_installed(venv)
    port = port or free_port()
    command = [str(executable), "start", "--port", str(port)]
    if max_retries is not None:
        command += ["--max-retries", str(max_retries)]
    # Our PYTHONPATH (or an active venv) must not leak the project's protobuf into its venv.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    with tempfile.NamedTemporaryFile(
        "wb", prefix="tasks-emulator-", suffix=".log", delete=False
    ) as log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    emulator = TasksEmulator("127.0.0.1", port, 0.0, Path(log.name))
    try:
        _wait_until_serving(emulator, process, deadline=started + startup_timeout)
        yield TasksEmulator(emulator.host, port, time.monotonic() - started, emulator.log_path)
    finally:
        process.terminate()  # it handles only Ctrl-C; SIGTERM ends it at once, as intended
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            emulator.log_path.unlink()


def _wait_until_serving(
    emulator: TasksEmulator, process: subprocess.Popen[bytes], *, deadline: float
) -> None:
    """Poll with a real API call (a bound port alone does not prove the servicer is up, nor
    that the port is ours). A child process gives no readiness signal, hence the polling."""
    client = emulator.client()
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorUnavailable(
                f"the emulator exited with status {process.returncode}:\n{emulator.log_tail()}"
            )
        try:
            client.list_queues(parent="projects/podium-probe/locations/local", timeout=1.0)
        except Exception as exc:  # any failure means "not yet"; the last one is reported
            last_error = exc
            time.sleep(0.05)
        else:
            return
    raise EmulatorUnavailable(
        f"the emulator did not answer on {emulator.target} in time ({last_error!r}):\n"
        f"{emulator.log_tail()}"
    )


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulatorUnavailable(f"could not {what}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise EmulatorUnavailable(f"could not {what} (exit {done.returncode}):\n{output}")


@contextlib.contextmanager
def _install_lock(venv: Path) -> Iterator[None]:
    # Beside the venv's path but outside it: `venv --clear` empties the directory.
    digest = hashlib.sha256(str(venv).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"podium-tasks-emulator-{digest}.lock"
    handle: IO[str]
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> None:
    with tasks_emulator() as emulator:
        print(f"Cloud Tasks emulator {EMULATOR_VERSION} on {emulator.target}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
