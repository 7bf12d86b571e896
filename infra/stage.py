"""Build one deploy bundle per function: ``python -m infra.stage [--out build] [FUNCTION ...]``.

functions-framework needs ``main.py`` at the root of the deployed source, so a bundle is::

    build/<fn>/main.py            functions/<fn>/main.py
    build/<fn>/shared/            the shared/ package (no __pycache__)
    build/<fn>/requirements.txt   the repo's requirements.lock, under --require-hashes
    build/<fn>/project.toml       the buildpacks' settings: entry point <fn>, Python 3.11
    build/<fn>.zip                the four above, what terraform/functions.tf uploads and builds

The build installs the bundle's ``requirements.txt`` with pip, so it gets the lock itself: every
package of the runtime tree pinned and hash-checked, the same set ``make test`` installs.

The zip is byte-identical for identical sources (sorted entries, fixed timestamps and modes):
Terraform names the uploaded object after its MD5, so an unchanged function is not rebuilt.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from infra.path_map import functions

REPO_ROOT = Path(__file__).resolve().parent.parent

_EXCLUDED = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store")
# The earliest timestamp a zip entry can carry; any fixed value makes the archive reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


LOCK = "requirements.lock"
# A global option line: pip refuses anything unpinned or without a matching hash.
_REQUIRE_HASHES = b"--require-hashes\n"
# The build (Google Cloud's buildpacks, terraform/functions.tf) reads its settings from the
# bundle: the function to serve and the Python of the lock (`make lock` resolves for 3.11).
_PROJECT_TOML = """\
[[build.env]]
name = "GOOGLE_FUNCTION_TARGET"
value = "{name}"

[[build.env]]
name = "GOOGLE_PYTHON_VERSION"
value = "3.11.x"
"""


class StageError(Exception):
    """A bundle cannot be built (for example, the function has no main.py yet)."""


def stage_function(name: str, *, out: Path, root: Path = REPO_ROOT) -> Path:
    """Build ``out/<name>/`` and ``out/<name>.zip`` from the sources under ``root``."""
    main = root / "functions" / name / "main.py"
    if not main.is_file():
        raise StageError(
            f"functions/{name}/main.py is missing: infra/path_map.py routes to {name!r}, "
            f"so the folder needs a main.py defining {name}(request)"
        )
    bundle = out / name
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    shutil.copyfile(main, bundle / "main.py")
    shutil.copytree(root / "shared", bundle / "shared", ignore=shutil.ignore_patterns(*_EXCLUDED))
    lock = root / LOCK
    if not lock.is_file():
        raise StageError(f"{LOCK} is missing: run `make lock`")
    (bundle / "requirements.txt").write_bytes(_REQUIRE_HASHES + lock.read_bytes())
    (bundle / "project.toml").write_text(_PROJECT_TOML.format(name=name))

    archive = out / f"{name}.zip"
    partial = archive.with_suffix(".zip.partial")
    _write_zip(bundle, partial)
    partial.replace(archive)
    return archive


def _write_zip(source: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in _files(source):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def _files(directory: Path) -> Iterable[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def stage(
    names: Sequence[str], *, out: Path, root: Path = REPO_ROOT
) -> tuple[list[Path], list[str]]:
    """Stage every function in ``names``; returns (archives built, errors for the others)."""
    out.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    errors: list[str] = []
    for name in names:
        try:
            built.append(stage_function(name, out=out, root=root))
        except StageError as exc:
            errors.append(str(exc))
    return built, errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.stage", description="Build one deploy bundle per function."
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build", help="default: build/")
    parser.add_argument(
        "functions",
        nargs="*",
        metavar="FUNCTION",
        help="function folders to stage (default: every function in infra/path_map.py)",
    )
    args = parser.parse_args(argv)
    known = functions()
    names: list[str] = args.functions or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"not in infra/path_map.py: {', '.join(unknown)} (known: {', '.join(known)})")

    built, errors = stage(names, out=args.out)
    for archive in built:
        print(f"staged {archive} ({archive.stat().st_size:,} bytes)")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
