"""HTTP clients for model calls: one per calling thread.

httpx's connection pool takes one lock for every request it starts and every response it
closes, and under it walks all of its connections and waiting requests. Shared by 128 threads
with 128 connections, that bookkeeping became the limit: measured here, one shared client
managed about 100 calls a second at 128 in flight, with the process at 100% CPU and a quarter
of it waiting for the pool's lock. The call budget's worker threads live as long as the
process (``budget.py``), so each keeps a client of its own, with its own kept-alive
connection, and no two calls share a pool.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import httpx


class ClientPerThread:
    """Quacks like the part of ``httpx.Client`` the providers use (``stream``), with one
    client per thread made by ``make``."""

    def __init__(self, make: Callable[[], httpx.Client]) -> None:
        self._make = make
        self._local = threading.local()
        # Weak: a client goes with its thread (the budget's threads live as long as the
        # process, but a caller on a short-lived thread must not leave clients behind).
        self._all: weakref.WeakSet[httpx.Client] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._make()
            self._local.client = client
            with self._lock:
                self._all.add(client)
        return client

    def stream(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._client().stream(method, url, **kwargs)

    def close(self) -> None:
        with self._lock:
            clients = list(self._all)
            self._all = weakref.WeakSet()
        for client in clients:
            client.close()
