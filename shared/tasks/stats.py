"""What the local dispatcher did, as plain values for tests and the local stack's logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Attempt:
    """One dispatch. ``status`` is None when no response arrived (refused, reset, timed out);
    ``next_delay`` is the wait before the retry it caused, None when the task is finished."""

    queue: str
    name: str
    attempt: int
    status: int | None
    next_delay: float | None
    redelivery: bool = False


@dataclass(frozen=True)
class QueueStats:
    created: int = 0
    duplicates: int = 0  # enqueues refused because the name was reserved
    delivered: int = 0  # 2xx acknowledgements, redeliveries included
    retried: int = 0  # retries scheduled
    failed: int = 0  # deliveries given up after max_attempts
    redelivered: int = 0  # redeliver() calls


@dataclass(frozen=True)
class DispatcherStats:
    queues: Mapping[str, QueueStats]
    attempts: tuple[Attempt, ...]  # the most recent ``attempt_log_size``, oldest first
    failed_tasks: tuple[tuple[str, str], ...]  # (queue, name), in the order they were given up

    def total(self) -> QueueStats:
        return QueueStats(
            *(sum(getattr(s, f.name) for s in self.queues.values()) for f in fields(QueueStats))
        )
