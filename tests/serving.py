"""A function served the way Cloud Run serves it: the ``functions-framework`` command (gunicorn)
in its own process, with only the environment a test gives it. Its output is read line by line
as it comes, so a test can wait for a log line that a request has already caused."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from infra.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
BOUND = 60.0  # a bound for a broken start, not an expectation


def base_env(**settings: str) -> dict[str, str]:
    """No inherited settings (the test session exports its own); ``shared`` importable as the
    bundle makes it (next to main.py)."""
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "THREADS": "4", **settings}


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False
        self.changed = threading.Condition()

    def pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, found: Callable[[list[str]], bool], timeout: float = BOUND) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: found(self.lines) or self.closed, timeout) and (
                found(self.lines)
            )


class FunctionProcess:
    def __init__(self, target: str, env: Mapping[str, str]) -> None:
        self.target = target
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(FUNCTIONS_FRAMEWORK),
                "--target",
                target,
                "--source",
                str(ROOT / "functions" / target / "main.py"),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
            ],
            env=dict(env),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout, self.stderr = _Lines(), _Lines()
        self._pumps = [
            threading.Thread(target=self.stdout.pump, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self.stderr.pump, args=(self.proc.stderr,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_exit(self) -> int:
        try:
            code = self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never leave a server behind a failed test
            raise
        for pump in self._pumps:
            pump.join(timeout=BOUND)
        return code

    def wait_serving(self) -> None:
        """Until the port accepts connections; fails if the process exits first."""
        deadline = time.monotonic() + BOUND
        while not threading.Event().wait(0.05):
            assert time.monotonic() < deadline, f"{self.target} did not listen within {BOUND}s"
            if self.proc.poll() is not None:
                self.wait_exit()
                raise AssertionError(
                    f"{self.target} exited with {self.proc.returncode}: "
                    + "\n".join(self.stdout.lines + self.stderr.lines)
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                continue

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.wait_exit()

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
