"""A real browser for page tests: Debian's ``chromium``, headless.

The test set-up installs it when it is missing (``apt-get``, as the suite's machine allows),
so a fresh machine needs nothing by hand; a browser that cannot be installed fails the test
rather than skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def ensure_chromium() -> str:
    with _lock:
        found = shutil.which("chromium")
        if found:
            return found
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
        install = [*apt, "install", "-y", "--no-install-recommends", "chromium"]
        result = subprocess.run(install, capture_output=True, text=True, env=APT_ENV, check=False)
        if result.returncode != 0:  # a stale package list: refresh it once
            subprocess.run([*apt, "update"], capture_output=True, env=APT_ENV, check=True)
            subprocess.run(install, capture_output=True, env=APT_ENV, check=True)
        found = shutil.which("chromium")
        assert found, "chromium did not install"
        return found


def _headless(chromium: str, tmp: Path) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",  # the suite may run as root, where the sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        # A profile per launch: a second launch on a profile in use hands its work to the
        # first process and exits without doing it.
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=tmp)}",
    ]


def rendered_dom(url: str, tmp: Path) -> str:
    """The page's DOM after the browser loaded it and ran whatever script it holds
    (``--dump-dom``): JavaScript stays on, so a name that smuggled a script in would show."""
    args = _headless(ensure_chromium(), tmp)
    out = subprocess.run(
        [*args, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


def screenshot(url: str, path: Path, tmp: Path, *, width: int, height: int) -> Path:
    args = _headless(ensure_chromium(), tmp)
    subprocess.run(
        [
            *args,
            f"--window-size={width},{height}",
            f"--screenshot={path}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert path.exists() and path.stat().st_size > 1000, "no screenshot"
    return path
