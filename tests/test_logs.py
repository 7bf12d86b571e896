"""Logs are JSON lines in Cloud Logging's structured format (audit, issue 6).

Real requests to a function served by the ``functions-framework`` command; every line it writes
is parsed as JSON. The trace comes from either header, one request is one entry with
``httpRequest``, and an exception's traceback is one entry.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import flask
import httpx
import pytest
from cryptography.fernet import Fernet

from shared.logs import build_handler
from tests.conftest import PROJECT
from tests.serving import FunctionProcess, base_env

TRACE = "105445aa7843bc8bf206b12000100000"
W3C_TRACE = "0af7651916cd43dd8448eb211c80319c"
UA = "podium-log-test/1.0"


def entries(lines: list[str]) -> list[dict[str, Any]]:
    parsed = []
    for line in lines:
        assert "\x1b" not in line, line  # no ANSI escapes
        entry = json.loads(line)  # every line is one JSON entry
        assert isinstance(entry, dict) and {"severity", "message"} <= set(entry), line
        parsed.append(entry)
    return parsed


def request_entry(process: FunctionProcess, path: str, status: int) -> dict[str, Any]:
    """The one entry the request at ``path`` produced (written before its reply was sent)."""

    def matching(lines: list[str]) -> list[dict[str, Any]]:
        return [
            e
            for e in entries(lines)
            if e.get("httpRequest", {}).get("status") == status
            and e["httpRequest"].get("requestUrl", "").endswith(path)
        ]

    assert process.stdout.wait_for(lambda lines: bool(matching(lines))), process.stdout.lines
    (entry,) = matching(process.stdout.lines)
    return entry


def settings(firestore: str) -> dict[str, str]:
    return base_env(
        FIRESTORE_EMULATOR_HOST=firestore,
        GOOGLE_CLOUD_PROJECT=PROJECT,
        PODIUM_SECRET_KEYS=Fernet.generate_key().decode(),
    )


@pytest.fixture(scope="module")
def served(emulator: Any) -> Iterator[FunctionProcess]:
    with FunctionProcess("leaderboards_api", settings(emulator.host_port)) as process:
        process.wait_serving()
        yield process


def test_one_entry_per_request_with_http_request_and_cloud_trace(served):
    resp = httpx.get(
        f"{served.url}/healthz",
        headers={"X-Cloud-Trace-Context": f"{TRACE}/1;o=1", "User-Agent": UA},
        timeout=30,
    )
    assert resp.status_code == 200
    entry = request_entry(served, "/healthz", 200)
    assert entry["severity"] == "INFO"
    assert entry["message"] == "GET /healthz 200"
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    http = entry["httpRequest"]
    assert http["requestMethod"] == "GET"
    assert http["requestUrl"] == f"{served.url}/healthz"
    assert http["userAgent"] == UA
    assert http["remoteIp"] == "127.0.0.1"
    assert re.fullmatch(r"\d+\.\d{6}s", http["latency"]), http
    assert int(http["responseSize"]) == len(resp.content)


def test_w3c_traceparent_and_client_errors(served):
    resp = httpx.get(
        f"{served.url}/api/nowhere",
        headers={"traceparent": f"00-{W3C_TRACE}-b7ad6b7169203331-01"},
        timeout=30,
    )
    assert resp.status_code == 404
    entry = request_entry(served, "/api/nowhere", 404)
    assert entry["severity"] == "WARNING"
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{W3C_TRACE}"
    assert entry["httpRequest"]["requestMethod"] == "GET"


def test_every_line_is_a_structured_entry(served):
    httpx.get(f"{served.url}/api/leaderboards", timeout=30)  # 401: no token
    request_entry(served, "/api/leaderboards", 401)
    entries(served.stdout.lines)
    assert served.stderr.lines == []


def test_an_exception_is_one_entry_with_its_traceback(tmp_path):
    # A deployment without credentials: building the Firestore client in /healthz raises
    # inside the handler, which answers a bare 500. (No metadata-server lookup, no gcloud
    # config: the credential search fails at once, on any machine.)
    env = base_env(
        GOOGLE_CLOUD_PROJECT=PROJECT,
        PODIUM_SECRET_KEYS=Fernet.generate_key().decode(),
        TASKS_MODE="cloud",
        TASKS_INVOKER_SA="invoker@example.iam.gserviceaccount.com",
        NO_GCE_CHECK="true",
        CLOUDSDK_CONFIG=str(tmp_path),
    )
    with FunctionProcess("leaderboards_api", env) as process:
        process.wait_serving()
        resp = httpx.get(
            f"{process.url}/healthz", headers={"X-Cloud-Trace-Context": TRACE}, timeout=60
        )
        assert resp.status_code == 500 and resp.json() == {"detail": "Internal server error"}
        request = request_entry(process, "/healthz", 500)
        assert request["severity"] == "ERROR"
        logged = entries(process.stdout.lines)
    errors = [e for e in logged if "Traceback (most recent call last)" in e["message"]]
    (error,) = errors
    assert error["severity"] == "ERROR"
    assert error["message"].startswith("unhandled error\nTraceback (most recent call last)")
    assert error["message"].count("\n") > 3  # the whole traceback, inside one entry
    assert error["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    assert not [e for e in logged if e["message"].lstrip().startswith("File ")]


def test_json_fields_become_top_level_keys_with_the_request_trace():
    # The convention other code uses for structured fields (run state changes in the pipeline).
    stream = io.StringIO()
    log = logging.getLogger("podium.test.json_fields")
    log.propagate = False
    log.addHandler(build_handler(project="acme", stream=stream))
    log.setLevel(logging.INFO)
    fields = {"run_id": "run_1", "status": "failed", "reason": "HTTP 401", "samples": 3}
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # not JSON by itself: encoded, not dropped
    with flask.Flask(__name__).test_request_context(
        "/tasks/infer", headers={"traceparent": f"00-{W3C_TRACE}-b7ad6b7169203331-01"}
    ):
        log.warning("run \x1b[31mstate\x1b[0m changed", extra={"json_fields": {**fields, "at": at}})
    (entry,) = entries(stream.getvalue().splitlines())
    assert entry["at"] == "2026-01-02T03:04:05+00:00"
    assert entry["message"] == "run state changed"
    assert {k: entry[k] for k in fields} == fields
    assert entry["severity"] == "WARNING"
    assert entry["logging.googleapis.com/trace"] == f"projects/acme/traces/{W3C_TRACE}"
