"""Static checks of terraform/: ``python -m infra.terraform_checks``.

The google provider cannot be downloaded here, so ``terraform validate``/``plan`` are out of
reach; what runs instead:

1. ``terraform fmt -check -recursive terraform``. Without a terraform binary this fails under
   ``CI=true`` and only warns locally.
2. checkov, pinned, from its own virtualenv ``.venv-checkov`` (created on first use, so its large
   dependency tree never mixes with the project's), with the skips in ``terraform/.checkov.yaml``.
   ``PODIUM_SKIP_CHECKOV=1`` skips it for local iteration; CI ignores that and runs it.

tests/test_terraform.py ties the Terraform to the code; this module only lints it.
Exits non-zero when any check fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
TERRAFORM_DIR: Final = "terraform"
CHECKOV_VERSION: Final = "3.3.30"
CHECKOV_VENV: Final = REPO_ROOT / ".venv-checkov"
# Written after a successful install, so an interrupted install is redone, not trusted.
_STAMP: Final = CHECKOV_VENV / f".checkov-{CHECKOV_VERSION}"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _shorten(arg: str) -> str:
    path = Path(arg)
    if path.is_absolute() and path.is_relative_to(REPO_ROOT):
        return str(path.relative_to(REPO_ROOT))
    return arg


def _run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    print("+ " + shlex.join(_shorten(c) for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=False).returncode


def check_fmt() -> bool:
    terraform = shutil.which("terraform")
    if terraform is None:
        if _truthy("CI"):
            print("error: terraform is not installed; CI must check formatting", file=sys.stderr)
            return False
        print("warning: terraform is not installed; skipping `terraform fmt -check`")
        return True
    return _run([terraform, "fmt", "-check", "-diff", "-recursive", TERRAFORM_DIR]) == 0


def ensure_checkov() -> Path | None:
    """The checkov executable in .venv-checkov, installing the pinned version if needed."""
    checkov = CHECKOV_VENV / "bin" / "checkov"
    if _STAMP.is_file() and checkov.is_file():
        return checkov
    print(f"setting up {CHECKOV_VENV.name} with checkov=={CHECKOV_VERSION} (first run only)")
    python = CHECKOV_VENV / "bin" / "python"
    if not python.is_file() and _run([sys.executable, "-m", "venv", str(CHECKOV_VENV)]) != 0:
        return None
    for stale in CHECKOV_VENV.glob(".checkov-*"):
        stale.unlink()
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if _run([*install, f"checkov=={CHECKOV_VERSION}"]) != 0:
        return None
    _STAMP.touch()
    return checkov


def check_checkov() -> bool:
    if _truthy("PODIUM_SKIP_CHECKOV"):
        if not _truthy("CI"):
            print("warning: PODIUM_SKIP_CHECKOV is set; skipping checkov (never in CI)")
            return True
        print("PODIUM_SKIP_CHECKOV is ignored under CI=true: CI always runs checkov")
    checkov = ensure_checkov()
    if checkov is None:
        print(f"error: could not install checkov=={CHECKOV_VERSION}", file=sys.stderr)
        return False
    # Offline: no calls to the vendor's platform for guidelines, policies or suppressions.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    cmd = [
        str(checkov),
        "--directory",
        TERRAFORM_DIR,
        "--config-file",
        f"{TERRAFORM_DIR}/.checkov.yaml",
        "--framework",
        "terraform",
        "--quiet",
        "--compact",
        "--skip-download",
    ]
    return _run(cmd, env=env) == 0


def main() -> int:
    failed: list[str] = []
    for name, check in (("terraform fmt", check_fmt), ("checkov", check_checkov)):
        started = time.monotonic()
        ok = check()
        print(f"{name}: {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f}s)", flush=True)
        if not ok:
            failed.append(name)
    if failed:
        print(f"terraform checks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
