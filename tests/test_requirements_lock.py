"""requirements.txt says what the code imports; requirements.lock pins the whole runtime tree
with hashes; deploy bundles and this test environment install that lock (audit, issue 6)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from functools import cache

from infra import lock

ROOT = lock.REPO_ROOT
FIRST_PARTY = {"shared", "functions", "infra", "tests", "benchmarks", "__future__"}


def test_every_top_level_pin_is_in_the_lock_at_the_same_version():
    top = lock.parse(lock.REQUIREMENTS.read_text())
    locked = lock.parse(lock.LOCK.read_text())
    drift = {
        name: (pin.version, locked[name].version if name in locked else None)
        for name, pin in top.items()
        if name not in locked or locked[name].version != pin.version
    }
    assert not drift, f"requirements.txt vs requirements.lock (run `make lock`): {drift}"


def test_every_lock_entry_is_pinned_and_hashed():
    locked = lock.parse(lock.LOCK.read_text())  # raises on anything but name==version
    assert len(locked) > 20  # the whole tree, not just the top level
    unhashed = [name for name, pin in locked.items() if not pin.hashes]
    assert not unhashed, f"lock entries without a hash: {unhashed}"


def test_the_test_environment_runs_exactly_the_locked_versions():
    from packaging.markers import Marker

    wrong = {}
    for name, pin in lock.parse(lock.LOCK.read_text()).items():
        if pin.marker and not Marker(pin.marker).evaluate():
            continue
        installed = importlib.metadata.version(name)
        if installed != pin.version:
            wrong[name] = (installed, pin.version)
    assert not wrong, f"installed vs locked (rebuild .venv: make clean test): {wrong}"


def test_the_lock_targets_the_deployed_runtime():
    from infra import stage

    makefile = (ROOT / "Makefile").read_text()
    # The base image terraform/functions.tf names, and the Python the build installs (the
    # GOOGLE_PYTHON_VERSION infra.stage writes into each bundle's project.toml).
    runtime = re.search(
        r'/runtimes/python(\d)(\d+)"', (ROOT / "terraform" / "functions.tf").read_text()
    )
    assert runtime is not None
    assert f"--python-version {runtime[1]}.{runtime[2]}" in makefile
    assert f'value = "{runtime[1]}.{runtime[2]}.x"' in stage._PROJECT_TOML


@cache
def _owners() -> dict[str, str]:
    """Installed file path (``google/cloud/tasks_v2/__init__.py``) -> normalized distribution."""
    owners: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if file.suffix == ".py":
                owners[file.as_posix()] = lock.normalize(dist.metadata["Name"])
    return owners


def _distribution(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        base = "/".join(parts[:n])
        for candidate in (f"{base}/__init__.py", f"{base}.py"):
            if candidate in _owners():
                return _owners()[candidate]
    return None


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in ("shared", "functions", "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    # "from google.cloud import firestore" imports google.cloud.firestore
                    names = [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    top = name.split(".")[0]
                    if top not in FIRST_PARTY and top not in sys.stdlib_module_names:
                        found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_requirements_declare_every_distribution_the_code_imports():
    declared = set(lock.parse(lock.REQUIREMENTS.read_text()))
    undeclared = {}
    for module, where in _third_party_imports().items():
        dist = _distribution(module)
        assert dist is not None, f"{module} (imported by {sorted(where)}) is not installed"
        if dist not in declared:
            undeclared[module] = (dist, sorted(where))
    assert not undeclared, f"imported but not in requirements.txt: {undeclared}"
