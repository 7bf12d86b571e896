"""One table from errors to HTTP statuses, looked up along the exception's class hierarchy
(Starlette's habit), so a new error subclass inherits its parent's status."""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.exceptions import HTTPException

from shared.domain import errors as e

log = logging.getLogger("podium.http")

STATUS: dict[type[BaseException], int] = {
    e.MalformedBody: 400,
    e.Refused: 400,
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Unauthenticated: 401,
    e.PermissionDenied: 403,
    e.EntitlementRequired: 402,
    e.TransientFailure: 503,
    e.LimitReached: 429,
}


def status_for(exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return None


def error_body(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) for any exception; unknown ones are logged and hidden."""
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        if code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
        return code, {"detail": exc.description or exc.name}, headers
    status = status_for(exc)
    if status is None or not isinstance(exc, e.PodiumError):
        log.exception("unhandled error", exc_info=exc)
        return 500, {"detail": "Internal server error"}, headers
    body: dict[str, Any] = {"detail": exc.detail}
    if isinstance(exc, e.InvalidInput) and exc.errors:
        body["errors"] = [{"loc": list(x.loc), "msg": x.msg, "type": x.type} for x in exc.errors]
    if isinstance(exc, e.EntitlementRequired):
        body["entitlement"] = exc.entitlement
    if isinstance(exc, e.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="podium"'
    if isinstance(exc, e.LimitReached):
        body["limit"] = exc.limit
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, e.TransientFailure) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return status, body, headers
