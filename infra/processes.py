"""What the local stack's helper processes share: the emulators and the model servers each run
in a process group of their own on a free loopback port, answer a health URL, and stop whole."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether ``url`` (on loopback) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group ``proc`` leads (started with ``start_new_session``), so the
    children it spawned go too (gcloud's JVM); SIGKILL if it has not exited in 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """A ``preexec_fn``: on Linux, the child gets SIGKILL when the process that started it dies,
    even by SIGKILL, when no ``finally`` runs (a timed-out test, an OOM kill). SIGKILL, not
    SIGTERM: llama.cpp's server sometimes hangs in its exit path after a SIGTERM, and a model
    server has nothing to save. Elsewhere a no-op; ``stop_group`` remains the normal way down."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
