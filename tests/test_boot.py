"""A function with unusable settings stops at start with one clear line (audit, issue 6).

Each case runs the real ``functions-framework`` command on ``functions/<name>/main.py`` with
only the environment given, as Cloud Run would; nothing is imported into the test process.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import httpx
from cryptography.fernet import Fernet

from infra.path_map import functions
from tests.conftest import PROJECT
from tests.serving import FunctionProcess, base_env


def stopped_with(process: FunctionProcess, *needles: str) -> dict[str, object]:
    """The process exits non-zero having written exactly one line: a CRITICAL JSON entry."""
    assert process.wait_exit() != 0
    assert process.stderr.lines == [], process.stderr.lines  # no traceback, no noise
    (line,) = process.stdout.lines
    entry: dict[str, object] = json.loads(line)
    assert entry["severity"] == "CRITICAL"
    message = str(entry["message"])
    assert message.startswith(f"Podium {process.target} cannot start: "), message
    for needle in needles:
        assert needle in message, message
    return entry


def test_missing_secret_keys_outside_the_emulator_stop_every_function():
    env = base_env(GOOGLE_CLOUD_PROJECT="acme-prod", TASKS_MODE="cloud", TASKS_INVOKER_SA="x@y")
    with ExitStack() as stack:
        started = [stack.enter_context(FunctionProcess(name, env)) for name in functions()]
        assert {p.target for p in started} == {
            "leaderboards_api",
            "public_api",
            "workers",
            "scheduler",
        }
        for process in started:
            stopped_with(
                process, "PODIUM_SECRET_KEYS is required outside the Firestore emulator", "generate"
            )


def test_a_malformed_key_stops_the_function_without_echoing_it(emulator):
    good, bad = Fernet.generate_key().decode(), "c2hvcnQta2V5"
    env = base_env(
        FIRESTORE_EMULATOR_HOST=emulator.host_port,  # even on the emulator, a given key is checked
        GOOGLE_CLOUD_PROJECT=PROJECT,
        PODIUM_SECRET_KEYS=f"{good},{bad}",
    )
    with FunctionProcess("leaderboards_api", env) as process:
        stopped_with(process, "PODIUM_SECRET_KEYS: key 2 of 2 is not a Fernet key")
        assert bad not in process.stdout.lines[0] and good not in process.stdout.lines[0]


def test_other_settings_are_checked_at_start():
    key = Fernet.generate_key().decode()
    cases = {
        # types and ranges, every broken one named at once
        "WORKERS_URL: must be an http(s) URL": dict(
            WORKERS_URL="workers.internal", MAX_BODY_BYTES="10", TASKS_MODE="cloud"
        ),
        "TASKS_MODE=cloud needs TASKS_INVOKER_SA": dict(TASKS_MODE="cloud"),
        "TASKS_MODE=local works only in the local stack": dict(TASKS_MODE="local"),
        # The Auth emulator's unsigned tokens must never sign anyone in to a real deployment.
        "FIREBASE_AUTH_EMULATOR_HOST makes sign-in accept unsigned ID tokens": dict(
            TASKS_MODE="cloud", TASKS_INVOKER_SA="t@x.iam", FIREBASE_AUTH_EMULATOR_HOST="h:1"
        ),
    }
    with ExitStack() as stack:
        started = {
            needle: stack.enter_context(
                FunctionProcess(
                    "workers",
                    base_env(GOOGLE_CLOUD_PROJECT="acme-prod", PODIUM_SECRET_KEYS=key, **extra),
                )
            )
            for needle, extra in cases.items()
        }
        for needle, process in started.items():
            stopped_with(process, needle)
    (line,) = started["WORKERS_URL: must be an http(s) URL"].stdout.lines
    assert "invalid settings: " in line and "MAX_BODY_BYTES: " in line


def test_good_settings_serve_healthz_in_every_function(emulator):
    # Cloud Run's start-up probe is GET /healthz on every function (terraform/functions.tf),
    # without a token: a function that does not answer it 200 never becomes ready.
    env = base_env(
        FIRESTORE_EMULATOR_HOST=emulator.host_port,
        GOOGLE_CLOUD_PROJECT=PROJECT,
        PODIUM_SECRET_KEYS=Fernet.generate_key().decode(),
    )
    with ExitStack() as stack:
        started = [stack.enter_context(FunctionProcess(name, env)) for name in functions()]
        for process in started:
            process.wait_serving()
            resp = httpx.get(f"{process.url}/healthz", timeout=30)
            assert resp.status_code == 200, (process.target, resp.status_code, resp.text)
            assert resp.json() == {"status": "ok"}, process.target
