"""Logs as JSON lines in Cloud Logging's structured format, one handler for the whole process.

google-cloud-logging's ``StructuredLogHandler`` writes what Cloud Run's log agent parses:
``severity``, ``message``, ``logging.googleapis.com/trace`` (read from the Flask request's
``traceparent`` or ``X-Cloud-Trace-Context`` and qualified with the project), ``httpRequest``,
and any ``extra={"json_fields": {...}}`` as top-level keys. A traceback stays inside its record's
message, so one exception is one entry. ``setup_logging`` installs it on the root logger once;
every function's ``main.py`` (through ``shared.boot``) and ``infra/dev.py`` call it.

The one line per request is ``shared/http/access_log.py``'s.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import IO, Final

from google.cloud.logging_v2.handlers import StructuredLogHandler

# Werkzeug's dev server colours its lines; nothing that reaches a log reader may carry escapes.
_ANSI: Final = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Loggers whose per-request lines duplicate ours (the dev server's access log).
# httpx logs every request at INFO: a line per model call, thousands per run, each billed by
# Cloud Logging and saying nothing the pipeline's own records do not.
_QUIET: Final = ("werkzeug", "httpx", "httpcore")


class _PodiumHandler(StructuredLogHandler):
    """The library's handler, minus its one-off self-description line (an entry nobody reads,
    emitted on the first record; it would make a boot failure two lines instead of one)."""

    def emit_instrumentation_info(self) -> None:
        return None


class _StripAnsi(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call: let the handler report it, never raise to the caller
        if "\x1b" in message:
            record.msg, record.args = _ANSI.sub("", message), None
        return True


class _Encoder(json.JSONEncoder):
    """json_fields may hold datetimes, enums, ids: a log line must never fail to encode."""

    def default(self, o: object) -> object:
        isoformat = getattr(o, "isoformat", None)
        return isoformat() if callable(isoformat) else str(o)


def build_handler(*, project: str | None, stream: IO[str] | None = None) -> logging.Handler:
    handler = _PodiumHandler(  # type: ignore[no-untyped-call]  # the library has no hints
        project_id=project, stream=stream or sys.stdout, json_encoder_cls=_Encoder
    )
    handler.addFilter(_StripAnsi())
    return handler


def setup_logging(
    *, project: str | None, level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """Route every logger through one structured handler on stdout (or ``stream``: the demo
    keeps the terminal for its own output). Idempotent: the local gateway imports several
    functions into one process."""
    root = logging.getLogger()
    if any(isinstance(h, _PodiumHandler) for h in root.handlers):
        return
    # Handlers already writing to the console would print each record a second time, in
    # another format (functions-framework installs one when LOG_EXECUTION_ID is set).
    for existing in list(root.handlers):
        if _writes_to_console(existing):
            root.removeHandler(existing)
    root.addHandler(build_handler(project=project, stream=stream))
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def _writes_to_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return stream is not None and (
        any(stream is c for c in consoles)
        or type(stream).__module__.startswith("functions_framework")
    )
