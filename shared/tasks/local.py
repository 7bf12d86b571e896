"""LocalDispatcher: Cloud Tasks' delivery semantics in-process, for the local stack and tests.

What it keeps of Cloud Tasks, because handlers depend on it:

- a task is an HTTP POST of its JSON body to ``base_url + path`` with the ``X-CloudTasks-*``
  headers; 2xx acknowledges, anything else (or no response) is retried with exponential
  backoff, a Retry-After on 429/503 lengthening the wait, until ``max_attempts``;
- a task name stays reserved while the task is pending and for ``name_retention_seconds``
  after it finished (Cloud Tasks: about an hour), so a duplicate enqueue answers False;
- each queue dispatches at most ``max_concurrent`` at once and ``max_per_second`` on average;
- delivery is at least once: ``redeliver`` sends a task again, as Cloud Tasks occasionally does.

Threads: ``max_concurrent`` daemon workers per queue. All state sits behind one lock; each queue
has a Condition on it (work arrived, or became due) and ``join`` waits on another (went idle).
Every wait is on a condition, with a deadline when the next event's time is known; nothing polls.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import httpx

from shared.tasks.limits import (
    DEFAULT_QUEUE_LIMITS,
    QueueLimits,
    TokenBucket,
    parse_retry_after,
    retry_delay,
)
from shared.tasks.queue import TaskQueue, check_path, check_task_id, encode_payload
from shared.tasks.stats import Attempt, DispatcherStats, QueueStats

logger = logging.getLogger(__name__)

# Cloud Tasks' default dispatch deadline for HTTP targets: a handler slower than this has failed.
DEFAULT_DISPATCH_DEADLINE: Final = 600.0
# Cloud Tasks keeps the name of a finished task (queue created through the API) for ~1 hour.
DEFAULT_NAME_RETENTION: Final = 3600.0


@dataclass
class _Counters:
    created: int = 0
    duplicates: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    redelivered: int = 0


@dataclass(eq=False)
class _Delivery:
    """A task on its way. Owned by whichever worker popped it, so read without the lock."""

    queue: str
    name: str
    path: str
    body: bytes
    eta: float  # epoch seconds it is scheduled for: the X-CloudTasks-TaskETA header
    redelivery: bool = False
    dispatches: int = 0
    executions: int = 0  # responses other than 5xx (X-CloudTasks-TaskExecutionCount)
    previous_status: int = 0  # 0 when none, as Cloud Tasks sends it


@dataclass(frozen=True)
class _Reservation:
    """What a reserved name keeps: enough to redeliver the task."""

    path: str
    body: bytes


@dataclass(eq=False)
class _QueueState:
    name: str
    limits: QueueLimits
    bucket: TokenBucket
    wake: threading.Condition
    ready: deque[_Delivery] = field(default_factory=deque)
    delayed: list[tuple[float, int, _Delivery]] = field(default_factory=list)  # heap by due time
    in_flight: int = 0
    counters: _Counters = field(default_factory=_Counters)

    def idle(self) -> bool:
        return not self.ready and not self.delayed and self.in_flight == 0


class LocalDispatcher(TaskQueue):
    """See the module docstring for the semantics. (Subclassing the Protocol only makes mypy
    check the signature here rather than at a distant call site.)"""

    def __init__(
        self,
        *,
        base_url: str,
        queues: Mapping[str, QueueLimits] = DEFAULT_QUEUE_LIMITS,
        http: httpx.Client | None = None,
        dispatch_deadline: float = DEFAULT_DISPATCH_DEADLINE,
        name_retention_seconds: float | None = DEFAULT_NAME_RETENTION,
        attempt_log_size: int = 10_000,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # trust_env=False: a developer's HTTP(S)_PROXY must not route loopback calls away.
        self._http = http or httpx.Client(trust_env=False)
        self._owns_http = http is None
        self._deadline = dispatch_deadline
        self._retention = name_retention_seconds
        self._lock = threading.Lock()
        self._became_idle = threading.Condition(self._lock)
        now = time.monotonic()
        self._queues = {
            name: _QueueState(
                name=name,
                limits=limits,
                bucket=TokenBucket(
                    rate=limits.max_per_second, burst=max(1.0, limits.max_per_second), now=now
                ),
                wake=threading.Condition(self._lock),
            )
            for name, limits in queues.items()
        }
        self._names: dict[tuple[str, str], _Reservation] = {}
        self._expiry: deque[tuple[float, tuple[str, str]]] = deque()
        self._attempts: deque[Attempt] = deque(maxlen=attempt_log_size)
        self._failed: list[tuple[str, str]] = []
        self._seq = itertools.count()  # heap tie-breaker: equal due times keep enqueue order
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopping = False

    # --- the port -------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        queue: str,
        name: str,
        path: str,
        payload: Mapping[str, Any],
        delay_seconds: float = 0.0,
    ) -> bool:
        check_task_id(name)
        check_path(path)
        if not math.isfinite(delay_seconds):
            raise ValueError(f"delay_seconds must be finite: {delay_seconds!r}")
        body = encode_payload(payload)
        with self._lock:
            state = self._queue(queue)
            now = time.monotonic()
            self._forget_expired(now)
            key = (queue, name)
            if key in self._names:
                state.counters.duplicates += 1
                return False
            self._names[key] = _Reservation(path=path, body=body)
            state.counters.created += 1
            # Like Cloud Tasks with a past schedule_time, a negative delay means "now".
            delay = max(0.0, delay_seconds)
            delivery = _Delivery(queue, name, path, body, eta=time.time() + delay)
            self._schedule(state, delivery, now + delay)
        return True

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("LocalDispatcher was already started (it cannot restart)")
            self._started = True
            for state in self._queues.values():
                for i in range(state.limits.max_concurrent):
                    thread = threading.Thread(
                        target=self._work, args=(state,), name=f"tasks-{state.name}-{i}"
                    )
                    thread.daemon = True  # an in-flight call must never keep the process alive
                    self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop dispatching; pending tasks stay undelivered. In-flight calls are not cut off:
        True when every worker has exited within ``timeout``."""
        with self._lock:
            self._stopping = True
            for state in self._queues.values():
                state.wake.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        stopped = not any(t.is_alive() for t in self._threads)
        if stopped and self._owns_http:
            self._http.close()
        return stopped

    def join(self, timeout: float | None = None) -> bool:
        """Wait until idle: nothing ready, delayed, awaiting a retry or in flight. False when
        ``timeout`` passed first (or the dispatcher was never started and has work)."""
        with self._lock:
            return self._became_idle.wait_for(self._idle, timeout)

    def __enter__(self) -> LocalDispatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(timeout=5.0)

    # --- for tests ------------------------------------------------------------------------

    def redeliver(self, name: str, *, queue: str | None = None) -> None:
        """Deliver a known task's payload once more, as a fresh delivery under the same name
        (Cloud Tasks' occasional duplicate). The task may be pending, done or failed."""
        with self._lock:
            keys = [k for k in self._names if k[1] == name and (queue is None or k[0] == queue)]
            if not keys:
                raise LookupError(f"No task named {name!r} is known (or it has expired)")
            if len(keys) > 1:
                raise ValueError(f"Task {name!r} exists in several queues; pass queue=")
            (key,) = keys
            reservation = self._names[key]
            state = self._queues[key[0]]
            state.counters.redelivered += 1
            delivery = _Delivery(
                key[0], name, reservation.path, reservation.body, time.time(), redelivery=True
            )
            self._schedule(state, delivery, time.monotonic())

    def stats(self) -> DispatcherStats:
        with self._lock:
            return DispatcherStats(
                queues={
                    name: QueueStats(**vars(state.counters)) for name, state in self._queues.items()
                },
                attempts=tuple(self._attempts),
                failed_tasks=tuple(self._failed),
            )

    # --- internals (the lock is held unless said otherwise) -------------------------------

    def _queue(self, queue: str) -> _QueueState:
        try:
            return self._queues[queue]
        except KeyError:
            # Cloud Tasks answers NOT_FOUND for a queue that was never created.
            raise LookupError(
                f"Queue {queue!r} is not configured; known: {sorted(self._queues)}"
            ) from None

    def _idle(self) -> bool:
        return all(state.idle() for state in self._queues.values())

    def _schedule(self, state: _QueueState, delivery: _Delivery, due: float) -> None:
        if due <= time.monotonic():
            state.ready.append(delivery)
        else:
            heapq.heappush(state.delayed, (due, next(self._seq), delivery))
        # Every waiter re-checks: an idle one takes the work, one sleeping until a later due
        # time shortens its sleep.
        state.wake.notify_all()

    def _forget_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, key = self._expiry.popleft()
            del self._names[key]

    def _next(self, state: _QueueState) -> _Delivery | None:
        """Block until this queue may dispatch a task (due, under the rate); None on stop."""
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                while state.delayed and state.delayed[0][0] <= now:
                    state.ready.append(heapq.heappop(state.delayed)[2])
                timeout: float | None = None
                if state.ready:
                    timeout = state.bucket.take(now)
                    if timeout == 0.0:
                        state.in_flight += 1
                        return state.ready.popleft()
                elif state.delayed:
                    timeout = state.delayed[0][0] - now
                state.wake.wait(timeout)
            return None

    def _work(self, state: _QueueState) -> None:
        while (delivery := self._next(state)) is not None:
            status, retry_after = self._post(delivery)  # without the lock: calls are slow
            self._settle(state, delivery, status, retry_after)

    def _post(self, delivery: _Delivery) -> tuple[int | None, float | None]:
        """One HTTP attempt (lock not held). Returns the status (None: no response) and the
        Retry-After in seconds, if any."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Google-Cloud-Tasks",
            "X-CloudTasks-QueueName": delivery.queue,
            "X-CloudTasks-TaskName": delivery.name,
            "X-CloudTasks-TaskRetryCount": str(delivery.dispatches),
            "X-CloudTasks-TaskExecutionCount": str(delivery.executions),
            "X-CloudTasks-TaskETA": f"{delivery.eta:.6f}",
        }
        if delivery.dispatches:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(delivery.previous_status)
        try:
            response = self._http.post(
                self._base_url + delivery.path,
                content=delivery.body,
                headers=headers,
                timeout=self._deadline,
            )
        except httpx.TransportError as exc:
            logger.info("task %s/%s: no response (%s)", delivery.queue, delivery.name, exc)
            return None, None
        except Exception:
            # A worker thread must survive anything; the task is retried like any failure.
            logger.exception("task %s/%s: dispatch failed", delivery.queue, delivery.name)
            return None, None
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_epoch=time.time())
        return response.status_code, retry_after

    def _settle(
        self,
        state: _QueueState,
        delivery: _Delivery,
        status: int | None,
        retry_after: float | None,
    ) -> None:
        with self._lock:
            state.in_flight -= 1
            delivery.dispatches += 1
            delivery.previous_status = status or 0
            if status is not None and status < 500:
                delivery.executions += 1
            next_delay: float | None = None
            if status is not None and 200 <= status < 300:
                state.counters.delivered += 1
                self._finish(delivery)
            elif state.limits.gives_up_after(delivery.dispatches):
                state.counters.failed += 1
                self._failed.append((delivery.queue, delivery.name))
                logger.warning(
                    "task %s/%s failed after %d attempts (last status %s)",
                    delivery.queue,
                    delivery.name,
                    delivery.dispatches,
                    status,
                )
                self._finish(delivery)
            else:
                next_delay = retry_delay(
                    state.limits,
                    failed_attempts=delivery.dispatches,
                    status=status,
                    retry_after=retry_after,
                )
                state.counters.retried += 1
                delivery.eta = time.time() + next_delay
                self._schedule(state, delivery, time.monotonic() + next_delay)
            self._attempts.append(
                Attempt(
                    delivery.queue,
                    delivery.name,
                    delivery.dispatches,
                    status,
                    next_delay,
                    delivery.redelivery,
                )
            )
            if self._idle():
                self._became_idle.notify_all()

    def _finish(self, delivery: _Delivery) -> None:
        if delivery.redelivery or self._retention is None:
            return  # a redelivery does not own the name; no retention means forever
        key = (delivery.queue, delivery.name)
        self._expiry.append((time.monotonic() + self._retention, key))
