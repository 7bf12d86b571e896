"""``requirements.lock``, read: the runtime dependency tree, pinned and hashed.

``make lock`` writes the lock (uv, from PyPI); deploy bundles install it with
``--require-hashes`` (``infra/stage.py``); ``make test`` installs it the same way, then the dev
tools constrained to it, so nothing a test runs on differs from what deploys. A constraints file
may not carry hashes (pip would demand them of the dev tools too), hence
``python -m infra.lock constraints``: the lock's pins without them.

Standard library only: the Makefile runs this before the virtualenv holds anything else.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
LOCK: Final = REPO_ROOT / "requirements.lock"
REQUIREMENTS: Final = REPO_ROOT / "requirements.txt"

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>[^\\]*?))?\s*$"
)
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    name: str  # normalized (PEP 503)
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with backslash continuations joined; comments and blank lines dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            yield pending.strip()
        pending = ""
    if pending.strip():
        yield pending.strip()


def parse(text: str) -> dict[str, Pin]:
    """Every ``name==version`` requirement (option lines such as ``-r`` are skipped)."""
    pins: dict[str, Pin] = {}
    for line in _logical_lines(text):
        if line.startswith("-"):
            continue
        head = _HASH.sub("", line).strip()
        match = _PIN.match(head)
        if match is None:
            raise ValueError(f"not an exact pin: {line!r}")
        name = normalize(match["name"])
        pins[name] = Pin(
            name, match["version"], match["marker"] or None, tuple(_HASH.findall(line))
        )
    return pins


def constraints(pins: dict[str, Pin]) -> str:
    lines = [
        f"{p.name}=={p.version}" + (f" ; {p.marker}" if p.marker else "") for p in pins.values()
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["constraints"]:
        print("usage: python -m infra.lock constraints", file=sys.stderr)
        return 2
    sys.stdout.write(constraints(parse(LOCK.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
