"""How many model calls a process has in flight, per provider: one budget shared by every task.

A task does not get a pool of its own. It hands all of its samples to its provider's budget, a
fixed set of worker threads fed from one first-come queue, and waits for their answers. So the
calls in flight to a provider never exceed its limit, however many tasks the instance serves at
once, and never fall short of it while any task still has samples waiting: a task whose chunk
is nearly done does not leave slots idle (no short last wave per task), since the next task's
samples fill them. Across instances the queue's dispatch limits bound the total
(``terraform/tasks.tf``).

A provider is its host (scheme, host and port): OpenRouter is one provider whichever model is
asked, a custom endpoint is its own server, and a judge on OpenRouter shares OpenRouter's
budget with the candidates it judges, because that is whose rate limit they share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
R = TypeVar("R")


def provider_key(url: str) -> str:
    """The budget a call to ``url`` draws on: its scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CallBudget:
    """``limit`` calls in flight per provider key, for the whole process."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a provider's budget must allow at least one call in flight")
        self.limit = limit
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def _pool(self, key: str) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                # Threads start lazily, up to the limit, and stay for the next task.
                pool = ThreadPoolExecutor(self.limit, thread_name_prefix=f"calls-{key}")
                self._pools[key] = pool
            return pool

    def map(self, key: str, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` within ``key``'s budget, results in order. Each call must not
        raise (the pipeline turns provider errors into outcomes); if one does anyway, the
        exception comes out here after every call has finished."""
        pool = self._pool(key)
        futures: list[Future[R]] = [pool.submit(fn, item) for item in items]
        wait(futures)
        return [f.result() for f in futures]

    def shutdown(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
