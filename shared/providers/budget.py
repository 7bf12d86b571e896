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

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
R = TypeVar("R")


def provider_key(url: str) -> str:
    """The budget a call to ``url`` draws on: its scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class _Batch:
    """One ``map`` call's items: results by position, and a latch for the last one."""

    def __init__(self, size: int) -> None:
        self.results: list[Any] = [None] * size
        self.errors: list[BaseException | None] = [None] * size
        self.left = size
        self.lock = threading.Lock()
        self.done = threading.Event()
        if size == 0:
            self.done.set()

    def finish(self, index: int, result: Any, error: BaseException | None) -> None:
        self.results[index] = result
        self.errors[index] = error
        with self.lock:
            self.left -= 1
            last = self.left == 0
        if last:
            self.done.set()


_Job = tuple[Callable[[Any], Any], Any, _Batch, int]


class _Workers:
    """``limit`` threads, started as work arrives and kept, taking jobs from one queue. Lighter
    than a ThreadPoolExecutor (no Future and condition per call): at hundreds of calls a second
    that bookkeeping was a measurable share of the process's CPU."""

    def __init__(self, limit: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._limit, self._name = limit, name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def put(self, jobs: list[_Job]) -> None:
        with self._lock:
            missing = min(self._limit, len(jobs) + len(self._threads)) - len(self._threads)
            for _ in range(max(0, missing)):
                t = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}",
                                     daemon=True)  # fmt: skip
                t.start()
                self._threads.append(t)
        for job in jobs:
            self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, item, batch, index = job
            try:
                batch.finish(index, fn(item), None)
            except BaseException as exc:  # handed to the caller of map
                batch.finish(index, None, exc)

    def stop(self) -> None:
        with self._lock:
            for _ in self._threads:
                self._jobs.put(None)
            self._threads = []


class CallBudget:
    """``limit`` calls in flight per provider key, for the whole process."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a provider's budget must allow at least one call in flight")
        self.limit = limit
        self._pools: dict[str, _Workers] = {}
        self._lock = threading.Lock()

    def _pool(self, key: str) -> _Workers:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = _Workers(self.limit, f"calls-{key}")
                self._pools[key] = pool
            return pool

    def map(self, key: str, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` within ``key``'s budget, results in order. Each call must not
        raise (the pipeline turns provider errors into outcomes); if one does anyway, the
        exception comes out here after every call has finished."""
        todo = list(items)
        batch = _Batch(len(todo))
        self._pool(key).put([(fn, item, batch, i) for i, item in enumerate(todo)])
        batch.done.wait()
        for error in batch.errors:
            if error is not None:
                raise error
        return list(batch.results)

    def shutdown(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()
