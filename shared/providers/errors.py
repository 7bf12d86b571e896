"""Outbound failures, classified once so every caller can decide "retry later" or "give up".

    ProviderError              any failed outbound call; ``transient`` says whether to retry
     └── DatasetError          a dataset file we could not fetch or could not use

A transient failure is one where the same request may succeed later: 429, 408, any 5xx,
connection errors and timeouts. A Cloud Tasks worker answers it with 503 (plus ``Retry-After``
when the upstream named a wait) so the queue retries with backoff.

Everything else is permanent and is recorded rather than retried: other 4xx (a bad key, an
unknown model, a prompt the provider refuses), a refused URL, and a *malformed success body*
(a 200 that is not JSON or has no ``choices``). The last is a judgement call: a dropped
connection surfaces as a transport error, not as a short body, so a 200 we cannot parse
means the endpoint does not speak the wire format, and asking again would only spend money and
queue attempts. One exception follows OpenRouter's documentation: a 402 that carries
``Retry-After`` is its in-flight spending budget, which frees up by itself, so it is transient.
"""

from __future__ import annotations

import datetime
import email.utils
import time

import httpcore
import httpx


class ProviderError(Exception):
    """A failed outbound call.

    ``status`` is the upstream HTTP status when there was one (``None`` for timeouts, connection
    errors, malformed bodies); ``retry_after`` is the wait in seconds the upstream asked for.
    """

    def __init__(
        self,
        detail: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.transient = transient
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.detail!r}, transient={self.transient}, "
            f"status={self.status}, retry_after={self.retry_after})"
        )


class DatasetError(ProviderError):
    """A dataset file that could not be fetched (HTTP status, network) or used (no rows)."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason, transient=transient, status=status, retry_after=retry_after)

    @property
    def reason(self) -> str:
        return self.detail


def is_transient_status(status: int, *, has_retry_after: bool = False) -> bool:
    if status in (408, 429) or 500 <= status <= 599:
        return True
    return status == 402 and has_retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Garbage yields ``None`` (fall back to our own backoff) rather than an error: a header we
    cannot read must not turn a retryable failure into a crash.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are GMT anyway
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


_NOT_SENDABLE = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.LocalProtocolError,
)
_TRANSPORT = (
    httpx.TransportError,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
)


def error_from_transport(exc: Exception, *, what: str) -> ProviderError:
    """Classify an httpx or httpcore exception raised while sending ``what`` (e.g. "POST
    https://…"). Model calls go through httpcore (``clients.py``), everything else through
    httpx; both name their exceptions alike."""
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
        return ProviderError(f"{what} timed out ({type(exc).__name__})", transient=True)
    if isinstance(exc, _NOT_SENDABLE):
        # Our own request is wrong (a URL scheme we cannot speak, a header value with a
        # newline in a token): sending it again cannot help.
        return ProviderError(f"{what} could not be sent: {exc}", transient=False)
    if isinstance(exc, _TRANSPORT):
        return ProviderError(f"{what} failed: {type(exc).__name__}: {exc}", transient=True)
    return ProviderError(f"{what} failed: {type(exc).__name__}: {exc}", transient=False)
