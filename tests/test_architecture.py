"""The import rules the README's architecture section states, checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

# room -> (what it may import besides the standard library and its own room, what it must not)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "shared/domain": (
        {"pydantic", "croniter", "re2", "numpy", "scipy", "krippendorff", "shared.domain"},
        set(),
    ),
    "shared/services": (
        {
            "shared.domain",
            "shared.repositories",
            "shared.providers",
            "shared.tasks",
            "shared.secrets",
            "shared.services",
        },
        {"flask", "werkzeug", "httpx", "google.cloud", "functions_framework"},
    ),
    "shared/repositories": (
        # msgpack: cells' answers and cache entries are stored packed (packing.py).
        {"google.cloud", "google.api_core", "msgpack", "shared.domain", "shared.repositories"},
        {"flask", "httpx"},
    ),
    "shared/providers": (
        # httpcore: model calls use httpx's engine directly (clients.py).
        {"httpx", "httpcore", "shared.providers", "shared.domain"},
        {"google.cloud", "flask", "shared.repositories"},
    ),
    "shared/tasks": (
        {"google.cloud", "google.api_core", "httpx", "shared.tasks"},
        {"flask", "shared.repositories"},
    ),
    "shared/http": (
        {"flask", "werkzeug", "pydantic", "jinja2", "shared.domain", "shared.http"},
        {"shared.repositories", "google.cloud"},
    ),
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def allowed(module: str, prefixes: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("room", sorted(RULES))
def test_rooms_import_only_what_they_may(room):
    may, never = RULES[room]
    problems = []
    for path in sorted((ROOT / room).rglob("*.py")):
        for module in imports(path):
            top = module.split(".")[0]
            if top in STDLIB or top == "__future__":
                continue
            if allowed(module, never) or not allowed(module, may):
                problems.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not problems, "\n".join(problems)


def test_only_config_reads_the_environment():
    readers = []
    for path in sorted((ROOT / "shared").rglob("*.py")):
        text = path.read_text()
        if ("os.environ" in text or "os.getenv" in text) and path.name != "config.py":
            readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_function_folders_hold_one_main_module():
    for folder in sorted(
        p for p in (ROOT / "functions").iterdir() if p.is_dir() and not p.name.startswith("_")
    ):
        assert sorted(f.name for f in folder.glob("*.py")) == ["main.py"], folder
