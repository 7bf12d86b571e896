"""Every function behind one local port, routed by the production path map.

Each function is loaded the way Cloud Run loads it: functions-framework's ``create_app`` on
``functions/<name>/main.py`` with the folder name as target. Requests keep their full path
(the load balancer does not rewrite paths either), so a function sees exactly what it would see
in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.serving import BaseWSGIServer, make_server

from infra.path_map import DEFAULT_FUNCTION, function_for, functions

ROOT = Path(__file__).resolve().parent.parent
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load_function(name: str) -> WSGIApp:
    app: WSGIApp = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=name, source=str(ROOT / "functions" / name / "main.py")
    )
    return app


class Gateway:
    def __init__(self, names: Iterable[str] | None = None) -> None:
        self.apps = {name: load_function(name) for name in (names or functions())}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        name = function_for(path) or (DEFAULT_FUNCTION if path == "/healthz" else None)
        if name is None or name not in self.apps:
            body = json.dumps({"detail": f"No function serves {path}"}).encode()
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [body]
        return self.apps[name](environ, start_response)


def serve(host: str, port: int, gateway: Gateway | None = None) -> BaseWSGIServer:
    """A threaded server (not yet serving: call ``serve_forever``); port 0 picks a free one."""
    return make_server(host, port, gateway or Gateway(), threaded=True)
