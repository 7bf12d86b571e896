"""HTTP for model calls: httpcore connection pools, one per calling thread.

Everything else outbound (datasets, the model catalog) uses an ``httpx.Client``. Model calls do
not, because at hundreds of calls a second the client's own work outweighed the HTTP. Measured
on 2 cores at 128 calls in flight against a stand-in answering in 200 ms (a thread per call in
flight, a pool per thread; ``benchmarks/run_throughput.py`` for the whole run):

    httpx.Client          2.0 ms CPU per call, wall time 1.47 x ideal
    httpx's transport     1.5 ms                          1.26 x
    httpcore              0.8 ms                          1.05 x

The difference is httpx's request and response models (URL parsing, header normalisation,
content decoders, hooks), none of which a model call needs: one POST of JSON to a URL parsed
once per provider, one body read under a byte cap. httpcore is the engine httpx itself runs
on, so the wire behaviour is the same: h11, TLS with certifi's roots, keep-alive, timeouts per
phase and the ``trace`` hook the latency is measured from.

A pool per thread, because a shared pool takes one lock for every request it starts and every
response it closes and walks all of its connections under it: shared by 128 threads that
bookkeeping was the limit (about 100 calls a second). The call budget's worker threads live as
long as the process (``budget.py``), so each keeps its own pool and kept-alive connections.
"""

from __future__ import annotations

import json
import ssl
import threading
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

# httpcore's exceptions share no base class; these are all it raises for a failed exchange.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)

# The encodings a body may arrive in although we ask for none (``identity``): a server that
# compresses anyway is tolerated for the two that need only zlib.
_ZLIB_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class UnreadableBody(Exception):
    """The body came in an encoding we cannot decode, or did not decode."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    # The body went past ``max_bytes`` and was cut there (the rest was not read).
    cut: bool


def parse_url(url: str) -> httpcore.URL:
    """``url`` parsed once, the way httpx does (IDNA hosts, percent-encoding), for httpcore."""
    u = httpx.URL(url)
    return httpcore.URL(scheme=u.raw_scheme, host=u.raw_host, port=u.port, target=u.raw_path)


def json_body(payload: Any) -> bytes:
    """The body httpx would send for ``json=payload``: compact UTF-8, no NaN (not JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Header names and values as ASCII bytes (what httpx sends); raises ``UnicodeEncodeError``
    for a value that is not ASCII, such as a token pasted with a typographic character."""
    return [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()]


class ModelHttp:
    """POSTs for model calls over a connection pool per calling thread.

    ``pool`` makes a thread's pool; by default an httpcore pool of ``connections_per_thread``
    kept-alive connections (a thread has one call in flight, but may alternate between hosts)
    sharing one TLS context, whose CA bundle loads once rather than once per thread.
    """

    def __init__(
        self,
        *,
        connections_per_thread: int = 4,
        keepalive_expiry: float = 5.0,
        pool: Callable[[], httpcore.ConnectionPool] | None = None,
    ) -> None:
        if pool is None:
            context = httpx.create_ssl_context(trust_env=False)
            pool = _pool_factory(context, connections_per_thread, keepalive_expiry)
        self._make = pool
        self._local = threading.local()
        # Weak: a pool goes with its thread (the budget's threads live as long as the process,
        # but a caller on a short-lived thread must not leave pools behind).
        self._all: weakref.WeakSet[httpcore.ConnectionPool] = weakref.WeakSet()
        self._lock = threading.Lock()

    def pool(self) -> httpcore.ConnectionPool:
        """This thread's pool."""
        pool: httpcore.ConnectionPool | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._make()
            self._local.pool = pool
            with self._lock:
                self._all.add(pool)
        return pool

    def post(
        self,
        url: httpcore.URL,
        *,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        timeout: float,
        max_bytes: int,
        trace: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> Reply:
        """POST ``body`` and read the answer, at most ``max_bytes`` of it (decoded).

        Raises one of ``TRANSPORT_ERRORS`` when the exchange fails, ``UnreadableBody`` when the
        body's encoding cannot be decoded.
        """
        extensions: dict[str, Any] = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        if trace is not None:
            extensions["trace"] = trace
        with self.pool().stream(
            "POST", url, headers=headers, content=body, extensions=extensions
        ) as response:
            names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            coding = names.get("content-encoding", "identity").strip().lower()
            chunks = response.iter_stream()
            if coding not in ("", "identity"):
                if coding not in _ZLIB_WBITS:
                    raise UnreadableBody(f"the body is in an unsupported encoding ({coding})")
                chunks = _inflate(chunks, _ZLIB_WBITS[coding], max_bytes + 1)
            parts: list[bytes] = []
            size, cut = 0, False
            # Leaving the block unread closes the connection rather than returning it half-read.
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    parts.append(chunk[: len(chunk) - (size - max_bytes)])
                    cut = True
                    break
                parts.append(chunk)
            return Reply(response.status, names, b"".join(parts), cut)

    def close(self) -> None:
        with self._lock:
            pools = list(self._all)
            self._all = weakref.WeakSet()
        for pool in pools:
            pool.close()


def _pool_factory(
    context: ssl.SSLContext, connections: int, keepalive_expiry: float
) -> Callable[[], httpcore.ConnectionPool]:
    def make() -> httpcore.ConnectionPool:
        return httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=keepalive_expiry,
        )

    return make


def _inflate(chunks: Any, wbits: int, limit: int) -> Any:
    """Decoded chunks of a compressed body, never more than ``limit`` bytes in all: a small
    compressed body must not expand past the cap in memory (a decompression bomb)."""
    decoder = zlib.decompressobj(wbits)
    produced = 0
    try:
        for chunk in chunks:
            data = decoder.decompress(chunk, max(1, limit - produced))
            produced += len(data)
            yield data
            if produced >= limit:
                return
        yield decoder.flush()
    except zlib.error as exc:
        raise UnreadableBody(f"the compressed body does not decode ({exc})") from None
