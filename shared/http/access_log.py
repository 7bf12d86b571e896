"""One log entry per request, in Cloud Logging's ``httpRequest`` shape.

The structured handler (``shared/logs.py``) adds the trace from the request's ``traceparent``
or ``X-Cloud-Trace-Context``; this module supplies what only the finished request knows.
"""

from __future__ import annotations

import logging
from typing import Any

import flask

log = logging.getLogger("podium.request")


def log_request(request: flask.Request, response: flask.Response, latency_seconds: float) -> None:
    status = response.status_code
    http_request: dict[str, Any] = {
        "requestMethod": request.method,
        "requestUrl": request.url,
        "status": status,
        "latency": f"{latency_seconds:.6f}s",  # a Duration, as Cloud Logging reads it
        "userAgent": request.user_agent.string,
        # The client as the proxies in front report it (X-Forwarded-For), else the peer.
        # Informational only: a client can put anything first in that header.
        "remoteIp": request.access_route[0] if request.access_route else request.remote_addr,
        "protocol": request.environ.get("SERVER_PROTOCOL"),
    }
    if response.content_length is not None:
        http_request["responseSize"] = str(response.content_length)
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    log.log(
        level,
        "%s %s %d",
        request.method,
        request.path,
        status,
        extra={"http_request": http_request},
    )
