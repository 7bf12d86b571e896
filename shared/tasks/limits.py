"""Queue limits and the retry policy the local dispatcher shares with Cloud Tasks.

Kept apart from the dispatcher's threads so the policy is plain functions of numbers, tested
without a clock: ``retry_delay`` decides when a failed task is tried again, ``TokenBucket``
decides when the next dispatch may start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Final

from shared.tasks.queue import (
    QUEUE_CONTROL,
    QUEUE_INFERENCE_CUSTOM,
    QUEUE_INFERENCE_HUGGINGFACE,
    QUEUE_INFERENCE_OPENROUTER,
    QUEUE_JUDGE,
)

# Statuses after which Cloud Tasks considers the handler's Retry-After ("the worker asks us to
# back off"); after other failures only the queue's backoff applies.
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})

# 2**60 times any sane min_backoff is already far past any max_backoff; capping the exponent
# keeps a task with unlimited attempts from overflowing a float.
_MAX_DOUBLINGS: Final = 60


@dataclass(frozen=True)
class QueueLimits:
    """One queue's rate limits and retry config (Cloud Tasks' RateLimits + RetryConfig).

    ``max_attempts`` counts the first attempt; -1 means unlimited, as in Cloud Tasks.
    Backoffs are in seconds.
    """

    max_concurrent: int = 4
    max_per_second: float = 10.0
    max_attempts: int = 5
    min_backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if not (self.max_per_second > 0 and math.isfinite(self.max_per_second)):
            raise ValueError("max_per_second must be a positive number")
        if self.max_attempts == 0 or self.max_attempts < -1:
            raise ValueError("max_attempts must be at least 1, or -1 for unlimited")
        if not (0 <= self.min_backoff <= self.max_backoff and math.isfinite(self.max_backoff)):
            raise ValueError("backoffs must satisfy 0 <= min_backoff <= max_backoff")

    def gives_up_after(self, attempts: int) -> bool:
        return self.max_attempts != -1 and attempts >= self.max_attempts


# Local defaults, scaled down from production so a failing local run gives up within about a
# minute instead of retrying for an hour. Hugging Face's hosted inference throttles hardest;
# control tasks are cheap but must not stampede Firestore's per-document write rate.
DEFAULT_QUEUE_LIMITS: Final[Mapping[str, QueueLimits]] = MappingProxyType(
    {
        QUEUE_INFERENCE_OPENROUTER: QueueLimits(max_concurrent=4, max_per_second=5.0),
        QUEUE_INFERENCE_HUGGINGFACE: QueueLimits(max_concurrent=2, max_per_second=2.0),
        QUEUE_INFERENCE_CUSTOM: QueueLimits(max_concurrent=4, max_per_second=5.0),
        QUEUE_JUDGE: QueueLimits(max_concurrent=4, max_per_second=5.0),
        QUEUE_CONTROL: QueueLimits(
            max_concurrent=2, max_per_second=20.0, max_attempts=10, max_backoff=10.0
        ),
    }
)


def parse_retry_after(value: str | None, *, now_epoch: float) -> float | None:
    """Seconds to wait according to a Retry-After header (delay-seconds or an HTTP-date),
    or None when absent or unreadable (then the queue's backoff applies unchanged)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; a naive result means the zone was missing
        return None
    return max(0.0, when.timestamp() - now_epoch)


def retry_delay(
    limits: QueueLimits, *, failed_attempts: int, status: int | None, retry_after: float | None
) -> float:
    """Seconds before the next attempt after ``failed_attempts`` failures (1 after the first).

    Exponential from min_backoff, capped at max_backoff. On 429/503 a Retry-After can only
    lengthen the wait (Cloud Tasks answers those with a *higher* backoff, never a lower one),
    and max_backoff still bounds it, so a worker cannot park a task for a day.
    (Cloud Tasks also has max_doublings, after which growth turns linear; with our small
    max_backoff the cap is reached first, so it is left out.)
    """
    exponent = min(max(failed_attempts - 1, 0), _MAX_DOUBLINGS)
    delay = limits.min_backoff * 2.0**exponent
    if status in RETRY_AFTER_STATUSES and retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, limits.max_backoff)


class TokenBucket:
    """Dispatch rate limiter: ``rate`` tokens a second, holding at most ``burst``.

    Not thread-safe on purpose: the dispatcher calls it under its own lock, with times from
    its own clock, which also makes it testable with made-up times.
    """

    def __init__(self, *, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._updated = now

    def take(self, now: float) -> float:
        """Take a token and return 0.0, or return how many seconds until one is available."""
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
