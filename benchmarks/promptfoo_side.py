"""The promptfoo side of the throughput comparison: the same N models x M samples, same stand-in.

    python -m benchmarks.promptfoo_side

``run_promptfoo`` writes a ``promptfooconfig.yaml`` (one ``openai:chat:<model>`` provider per
model pointed at the stand-in through ``config.apiBaseUrl``, one test per input with an
``equals`` assertion, i.e. Podium's ``exact`` scoring) and times ``promptfoo eval`` from
subprocess start to exit. promptfoo is pinned and installed on first use into
``benchmarks/.promptfoo/`` (untracked; it belongs in .gitignore).

How ``--max-concurrency`` applies (read from the evaluator of the pinned version): promptfoo
flattens the eval into one list of steps, one per (test x provider x prompt), ordered test by
test with the providers inside, and runs that list with ``async.forEachOfLimit(steps,
maxConcurrency)``. So the limit is global, across providers and tests: at most
``--max-concurrency`` provider calls are in flight in total, not per provider. Two other limits
exist but do not bind here: the adaptive scheduler gives every provider (rate-limit key =
provider id + base URL + key tail) its own slot queue capped at the same ``maxConcurrency``
(it only shrinks on 429s, which the stand-in does not send), and the HTTP agent's connection
pool per origin is ``maxConcurrency`` too (``PROMPTFOO_FETCH_CONNECTIONS`` unset). Podium's
concurrency is likewise a cap on calls in flight across the whole run, so the two are run at the
same number; ``__main__`` measures the peak number of requests in flight at the stand-in to
confirm it.

Offline: telemetry, update checks, sharing and remote generation are off through promptfoo's own
variables, the cache is off (``--no-cache`` and ``PROMPTFOO_CACHE_ENABLED=false``) so every call
reaches the server, and ``equals`` needs no grader. ``PROMPTFOO_DISABLE_TELEMETRY`` does not
quite mean silence in this version: ``Telemetry.record`` then sends one "telemetry disabled"
event to ``https://r.promptfoo.app/`` through ``fetchWithProxy``. So the environment also points
every proxy variable at a closed loopback port, with ``NO_PROXY`` naming only the stand-in's
host and loopback: promptfoo's HTTP goes through ``proxy-from-env``, so that event is refused
locally, before any DNS lookup. The environment is built from scratch (no inherited ``OPENAI_*`` or
``NODE_OPTIONS``), and ``HOME`` and ``PROMPTFOO_CONFIG_DIR`` are fresh directories under
``workdir``, so nothing is written to the user's home. Each run starts with an empty config
dir, so promptfoo creates its SQLite database (it records every eval there, which is part of
its normal cost; ``--no-write`` would skip it) and that cost is in every wall time, including
the start-up figure.

The stand-in (``tests/standins/_http.py``) serves HTTP/1.0, a new connection per request, and
listens with a backlog of 128: with socketserver's default of 5, bursts of connects overflowed
the listen queue and each dropped SYN cost a call a 1 s retransmission. ``__main__`` prints the
kernel's ListenOverflows delta so a slow run can be told apart from a slow client.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROMPTFOO_VERSION = "0.121.20"  # newest release whose engines still allow Node.js 20
INSTALL_DIR = Path(__file__).resolve().parent / ".promptfoo"
PODIUM_PLACEHOLDER = "{input}"
DUMMY_API_KEY = "sk-standin-dummy"
# promptfoo exits with this when some assertion failed (PROMPTFOO_FAILED_TEST_EXIT_CODE).
FAILED_TESTS_EXIT_CODE = 100
# A result's failureReason when the provider call failed (promptfoo's ResultFailureReason.ERROR).
FAILURE_REASON_ERROR = 2
# Nothing listens on the discard port: a proxied request is refused at once, on this machine.
BLACKHOLE_PROXY = "http://127.0.0.1:9"
_NUNJUCKS_OPENERS = ("{{", "{%", "{#")


class PromptfooError(RuntimeError):
    pass


@dataclass(frozen=True)
class PromptfooResult:
    wall_seconds: float  # subprocess start to exit: Node start-up, config load, eval, DB, output
    requests: int  # lines of the output JSONL (one result per provider call)
    passes: int
    failures: int  # the answer came back and failed the equals assertion
    errors: int  # no usable answer (HTTP error, timeout, ...)
    reported_seconds: float | None  # the "Duration:" promptfoo printed, if it did
    effective_concurrency: int | None  # "up to N at a time" as promptfoo printed it
    command: tuple[str, ...]
    exit_code: int


@dataclass(frozen=True)
class InstallInfo:
    version: str
    path: Path
    seconds: float | None  # None: it was already installed
    size_bytes: int


# --- installation ---------------------------------------------------------------------------------
def promptfoo_entrypoint(install_dir: Path = INSTALL_DIR) -> Path:
    return install_dir / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"


def installed_version(install_dir: Path = INSTALL_DIR) -> str | None:
    package_json = install_dir / "node_modules" / "promptfoo" / "package.json"
    try:
        version = json.loads(package_json.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


def ensure_promptfoo(install_dir: Path = INSTALL_DIR) -> InstallInfo:
    """Install the pinned promptfoo into ``install_dir`` unless it is already there.

    Only the npm registry is contacted, and only here."""
    seconds: float | None = None
    if (
        installed_version(install_dir) != PROMPTFOO_VERSION
        or not promptfoo_entrypoint(install_dir).is_file()
    ):
        npm = shutil.which("npm")
        if npm is None:
            raise PromptfooError("npm is not on PATH; promptfoo needs Node.js and npm")
        install_dir.mkdir(parents=True, exist_ok=True)
        command = [
            npm,
            "install",
            "--prefix",
            str(install_dir),
            f"promptfoo@{PROMPTFOO_VERSION}",
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]
        print(f"installing promptfoo {PROMPTFOO_VERSION}: {' '.join(command)}", file=sys.stderr)
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise PromptfooError(f"npm install failed:\n{completed.stderr[-4000:]}")
        if installed_version(install_dir) != PROMPTFOO_VERSION:
            raise PromptfooError(f"npm install did not leave promptfoo {PROMPTFOO_VERSION}")
    return InstallInfo(PROMPTFOO_VERSION, install_dir, seconds, _tree_size(install_dir))


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


# --- environment and config -----------------------------------------------------------------------
def promptfoo_env(*, config_dir: Path, home: Path, allowed_host: str) -> dict[str, str]:
    """The whole environment promptfoo runs with: nothing inherited but PATH and the locale."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL") if key in os.environ}
    no_proxy = ",".join(dict.fromkeys([allowed_host, "127.0.0.1", "localhost", "::1"]))
    env.update(
        {
            "HOME": str(home),
            "PROMPTFOO_CONFIG_DIR": str(config_dir),
            "PROMPTFOO_DISABLE_TELEMETRY": "true",
            "PROMPTFOO_DISABLE_UPDATE": "true",
            "PROMPTFOO_DISABLE_SHARING": "true",
            "PROMPTFOO_DISABLE_REMOTE_GENERATION": "true",
            "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "true",
            "PROMPTFOO_DISABLE_RUNTIME_WARNINGS": "true",  # the Node 20 end-of-support banner
            "PROMPTFOO_CACHE_ENABLED": "false",
            "PROMPTFOO_CACHE_PATH": str(config_dir / "cache"),
            "NODE_NO_WARNINGS": "1",  # "DecompressInterceptor is experimental"
            "NO_COLOR": "1",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = BLACKHOLE_PROXY
    return env


def nunjucks_template(podium_template: str) -> str:
    """Podium's prompt template as a promptfoo (nunjucks) one.

    Podium replaces ``{input}`` literally and leaves every other brace alone, so each literal
    piece that nunjucks would read as a tag is wrapped in ``{% raw %}``."""
    if PODIUM_PLACEHOLDER not in podium_template:
        raise ValueError(f"the prompt template must contain {PODIUM_PLACEHOLDER}")
    pieces = []
    for piece in podium_template.split(PODIUM_PLACEHOLDER):
        if any(opener in piece for opener in _NUNJUCKS_OPENERS):
            if "{% endraw %}" in piece:
                raise ValueError("the prompt template contains '{% endraw %}'")
            piece = "{% raw %}" + piece + "{% endraw %}"
        pieces.append(piece)
    return "{{ input }}".join(pieces)


def promptfoo_config(
    *,
    base_url: str,
    models: Sequence[str],
    inputs: Sequence[str],
    expected: Mapping[str, str],
    prompt_template: str,
) -> dict[str, Any]:
    return {
        "description": "Podium throughput benchmark (promptfoo side)",
        "prompts": [nunjucks_template(prompt_template)],
        "providers": [
            {
                "id": f"openai:chat:{model}",
                "label": model,
                "config": {"apiBaseUrl": base_url, "apiKey": DUMMY_API_KEY},
            }
            for model in models
        ],
        "tests": [
            {
                "vars": {"input": text},
                "assert": [{"type": "equals", "value": expected[text]}],
            }
            for text in inputs
        ],
    }


# --- running --------------------------------------------------------------------------------------
def run_promptfoo(
    *,
    base_url: str,
    models: Sequence[str],
    inputs: Sequence[str],
    expected: Mapping[str, str],
    prompt_template: str,
    concurrency: int,
    workdir: Path,
    timeout_seconds: float = 900,
) -> PromptfooResult:
    """Run ``promptfoo eval`` over models x inputs against ``base_url`` and time it.

    ``concurrency`` is promptfoo's ``--max-concurrency``: a cap on provider calls in flight
    across all providers and tests together (see the module docstring). Each call gets fresh
    config, home and output paths under ``workdir``."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not models or not inputs:
        raise ValueError("give at least one model and one input")
    missing = [text for text in inputs if text not in expected]
    if missing:
        raise ValueError(f"no expected answer for {missing[:3]}")
    host = urlsplit(base_url).hostname
    if not host:
        raise ValueError(f"not a URL: {base_url}")
    node = shutil.which("node")
    if node is None:
        raise PromptfooError("node is not on PATH")
    ensure_promptfoo()

    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="promptfoo-run-", dir=workdir))
    config_dir = run_dir / "config-dir"
    home = run_dir / "home"
    config_dir.mkdir()
    home.mkdir()
    config_path = run_dir / "promptfooconfig.yaml"
    # JSONL: promptfoo refuses a JSON export of 250,000 results ("Dataset too large for JSON
    # export"), after the eval; JSONL streams one result a line, at any size.
    output_path = run_dir / "output.jsonl"
    config = promptfoo_config(
        base_url=base_url,
        models=models,
        inputs=inputs,
        expected=expected,
        prompt_template=prompt_template,
    )
    # JSON is YAML; json.dumps quotes every string safely, which a hand-written YAML would not.
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    command = (
        node,
        str(promptfoo_entrypoint()),
        "eval",
        "--config",
        str(config_path),
        "--max-concurrency",
        str(concurrency),
        "--no-cache",
        "--output",
        str(output_path),
        "--no-share",
        "--no-table",
        "--no-progress-bar",
    )
    env = promptfoo_env(config_dir=config_dir, home=home, allowed_host=host)
    start = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=run_dir,  # promptfoo reads a .env from its working directory: keep it ours
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
    wall_seconds = time.perf_counter() - start
    if completed.returncode not in (0, FAILED_TESTS_EXIT_CODE) or not output_path.is_file():
        raise PromptfooError(
            f"promptfoo eval exited with {completed.returncode}\n"
            f"--- stdout ---\n{completed.stdout[-4000:]}\n"
            f"--- stderr ---\n{completed.stderr[-4000:]}"
        )
    passes = failures = errors = requests = 0
    with output_path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            requests += 1
            if row.get("success"):
                passes += 1
            elif row.get("failureReason") == FAILURE_REASON_ERROR:
                errors += 1
            else:
                failures += 1
    took = re.search(r"Duration: (?:(\d+)h )?(?:(\d+)m )?(\d+(?:\.\d+)?)s", completed.stdout)
    announced = re.search(r"up to (\d+) at a time", completed.stdout + completed.stderr)
    return PromptfooResult(
        wall_seconds=wall_seconds,
        requests=requests,
        passes=passes,
        failures=failures,
        errors=errors,
        reported_seconds=(
            int(took.group(1) or 0) * 3600 + int(took.group(2) or 0) * 60 + float(took.group(3))
            if took
            else None
        ),
        effective_concurrency=int(announced.group(1)) if announced else None,
        command=command,
        exit_code=completed.returncode,
    )


def measure_startup(
    *,
    base_url: str,
    model: str,
    input_text: str,
    expected_answer: str,
    prompt_template: str,
    workdir: Path,
) -> PromptfooResult:
    """One model x one input: nearly all of its wall time is promptfoo's fixed cost."""
    return run_promptfoo(
        base_url=base_url,
        models=[model],
        inputs=[input_text],
        expected={input_text: expected_answer},
        prompt_template=prompt_template,
        concurrency=1,
        workdir=workdir,
    )


# --- python -m benchmarks.promptfoo_side ----------------------------------------------------------
MODELS = 3
INPUTS = 50
LATENCY_MS = 200.0
CONCURRENCY = 8
PROMPT_TEMPLATE = "Answer with the answer only. Question: {input}"


def _peak_tracking_standin(models: Sequence[Any], dataset: Mapping[str, str]) -> Any:
    """An OpenAIStandin that also records the most requests it had in flight at once."""
    from tests.standins._http import StandinRequest, StandinResponse
    from tests.standins.openai_server import OpenAIStandin

    class PeakTrackingStandin(OpenAIStandin):
        def __init__(self) -> None:
            super().__init__(models, dataset=dataset)
            self._gauge_lock = threading.Lock()
            self.in_flight = 0
            self.peak_in_flight = 0

        def handle(self, request: StandinRequest) -> StandinResponse:
            with self._gauge_lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                return super().handle(request)
            finally:
                with self._gauge_lock:
                    self.in_flight -= 1

        def reset_peak(self) -> None:
            with self._gauge_lock:
                self.peak_in_flight = 0

    return PeakTrackingStandin()


def _warm_up(workdir: Path) -> float:
    """``promptfoo --version`` once, untimed in the figures: loads Node and the package from
    disk so the start-up measurement is not a cold-cache one."""
    node = shutil.which("node")
    assert node is not None
    run_dir = Path(tempfile.mkdtemp(prefix="promptfoo-warmup-", dir=workdir))
    env = promptfoo_env(config_dir=run_dir, home=run_dir, allowed_host="127.0.0.1")
    start = time.perf_counter()
    subprocess.run(
        [node, str(promptfoo_entrypoint()), "--version"],
        cwd=run_dir,
        env=env,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - start


def _listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (Linux)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            fields = dict(zip(header.split()[1:], values.split()[1:], strict=False))
            return int(fields["ListenOverflows"]) if "ListenOverflows" in fields else None
    return None


def _print_result(title: str, result: PromptfooResult) -> None:
    reported = f"{result.reported_seconds:.3f}s" if result.reported_seconds is not None else "n/a"
    print(f"{title}")
    print(f"  wall (subprocess)        {result.wall_seconds:8.3f}s")
    print(f"  promptfoo durationMs     {reported:>9}")
    print(
        f"  results {result.requests}: {result.passes} pass, {result.failures} fail, "
        f"{result.errors} error; exit code {result.exit_code}; "
        f"promptfoo says up to {result.effective_concurrency} at a time"
    )


def main() -> None:
    from tests.standins.openai_server import StandinModel, answers_correctly

    install = ensure_promptfoo()
    installed = "already installed" if install.seconds is None else f"{install.seconds:.1f}s"
    print(
        f"promptfoo {install.version} (node {_node_version()}), install: {installed}, "
        f"{install.size_bytes / 1e6:.0f} MB in {install.path}"
    )
    models = [
        StandinModel(f"standin/model-{i}", accuracy=acc, latency_ms=LATENCY_MS)
        for i, acc in enumerate((0.9, 0.7, 0.5)[:MODELS])
    ]
    dataset = {f"question-{i:03d}": f"answer-{i:03d}" for i in range(INPUTS)}
    inputs = list(dataset)
    names = [m.name for m in models]
    standin = _peak_tracking_standin(models, dataset)
    standin.start()
    try:
        with tempfile.TemporaryDirectory(prefix="podium-promptfoo-") as tmp:
            workdir = Path(tmp)
            warm = _warm_up(workdir)
            print(f"warm-up `promptfoo --version`: {warm:.3f}s (not counted)")

            startup = measure_startup(
                base_url=standin.base_url,
                model=names[0],
                input_text=inputs[0],
                expected_answer=dataset[inputs[0]],
                prompt_template=PROMPT_TEMPLATE,
                workdir=workdir,
            )
            startup_requests = len(standin.requests)
            standin.clear_requests()
            standin.reset_peak()

            overflows_before = _listen_overflows()
            result = run_promptfoo(
                base_url=standin.base_url,
                models=names,
                inputs=inputs,
                expected=dataset,
                prompt_template=PROMPT_TEMPLATE,
                concurrency=CONCURRENCY,
                workdir=workdir,
            )
            received = len(standin.requests)
            peak = standin.peak_in_flight
            overflows_after = _listen_overflows()
    finally:
        standin.stop()

    calls = len(names) * len(inputs)
    ideal = math.ceil(calls / CONCURRENCY) * LATENCY_MS / 1000
    _print_result(f"start-up: 1 model x 1 input, latency {LATENCY_MS:.0f} ms", startup)
    print(
        f"  fixed cost ~ wall - one call = {startup.wall_seconds - LATENCY_MS / 1000:.3f}s; "
        f"stand-in received {startup_requests}"
    )
    _print_result(
        f"full: {len(names)} models x {len(inputs)} inputs = {calls} calls, "
        f"latency {LATENCY_MS:.0f} ms, --max-concurrency {CONCURRENCY}",
        result,
    )
    print(f"  ideal at {CONCURRENCY} in flight: ceil({calls}/{CONCURRENCY}) x {LATENCY_MS:.0f} ms")
    print(f"    = {ideal:.3f}s; minus start-up: {result.wall_seconds - startup.wall_seconds:.3f}s")
    print(f"  throughput (wall): {calls / result.wall_seconds:.1f} calls/s")
    print(f"  stand-in: received {received} requests, peak {peak} in flight")
    if overflows_before is not None and overflows_after is not None:
        # The stand-in listens with socketserver's default backlog of 5 and closes every
        # connection (HTTP/1.0), so a burst of connects can overflow it; each dropped SYN
        # costs the client a 1 s retransmission, whoever the client is.
        print(
            f"  kernel listen-queue overflows during the run: {overflows_after - overflows_before}"
            " (each is a ~1 s SYN retransmit for one call)"
        )

    expected_passes = sum(answers_correctly(m, text) for m in models for text in inputs)
    problems = []
    if received != calls:
        problems.append(f"the stand-in received {received} requests, not {calls}")
    if result.requests != calls:
        problems.append(f"promptfoo reported {result.requests} results, not {calls}")
    if result.passes != expected_passes:
        problems.append(f"promptfoo passed {result.passes}, the stand-in implies {expected_passes}")
    if result.failures != calls - expected_passes or result.errors:
        problems.append(f"{result.failures} failures and {result.errors} errors")
    if peak > CONCURRENCY:
        problems.append(f"{peak} requests in flight, above --max-concurrency {CONCURRENCY}")
    print(f"  passes expected from the stand-in: {expected_passes}")
    if problems:
        print("CHECKS FAILED: " + "; ".join(problems))
        raise SystemExit(1)
    print("checks: OK")


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "missing"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
