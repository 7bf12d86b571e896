"""The task queue port: what services need from Cloud Tasks, and nothing else.

A service enqueues a POST of a JSON payload to a path on the workers function, under a name
it derives from the work itself (``task_name(run_id, model_id, chunk)``). Cloud Tasks refuses
a second task with a name it has seen recently, so a retried request, or a crash between
writing a run and enqueueing its tasks, cannot double the work: enqueue answers False and the
caller carries on. Two adapters implement the port: ``cloud.CloudTasksQueue`` (production) and
``local.LocalDispatcher`` (local stack and tests).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

# One queue per provider family, so each queue's own rate limits guard that provider's quota
# (a slow Hugging Face endpoint must not starve OpenRouter calls, and vice versa).
QUEUE_INFERENCE_OPENROUTER: Final = "inference-openrouter"
QUEUE_INFERENCE_HUGGINGFACE: Final = "inference-huggingface"
QUEUE_INFERENCE_CUSTOM: Final = "inference-custom"
QUEUE_JUDGE: Final = "judge"
# Finalize, consolidate and other bookkeeping: cheap, and must not wait behind model calls.
QUEUE_CONTROL: Final = "control"

ALL_QUEUES: Final[tuple[str, ...]] = (
    QUEUE_INFERENCE_OPENROUTER,
    QUEUE_INFERENCE_HUGGINGFACE,
    QUEUE_INFERENCE_CUSTOM,
    QUEUE_JUDGE,
    QUEUE_CONTROL,
)

# Cloud Tasks' rules for the last segment of a task name and for a queue id.
MAX_TASK_NAME_LENGTH: Final = 500
_TASK_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TASK_NAME_LENGTH}}}")
_QUEUE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")

# Cloud Tasks caps a whole task at 100 KB. We check the body only (the URL and headers we add
# are small), and with the decimal reading of "KB" so a payload that passes here also passes
# there. Anything bigger belongs in Firestore, with its document id in the payload.
MAX_PAYLOAD_BYTES: Final = 100_000


class TaskQueue(Protocol):
    """Enqueue an HTTP POST of ``payload`` (as JSON) to ``path`` on the workers function."""

    def enqueue(
        self,
        *,
        queue: str,
        name: str,
        path: str,
        payload: Mapping[str, Any],
        delay_seconds: float = 0.0,
    ) -> bool:
        """True when the task was created; False when a task with this name already exists
        (or existed recently) in that queue. A duplicate is not an error: it is how a
        deterministic name makes enqueueing idempotent."""
        ...


def task_name(*parts: str) -> str:
    """A Cloud Tasks-legal task id derived from ``parts`` (the same parts, the same name).

    The id is the sha256 hex digest of the parts. Google recommends hashed ids, or a hashed
    prefix: ids with sequential prefixes (timestamps, counters, run ids) concentrate on one
    shard of the name index and raise CreateTask latency and error rates. The parts are hashed
    as a JSON array so ``("a/b", "c")`` and ``("a", "b/c")`` cannot collide.
    """
    if not parts:
        raise ValueError("task_name needs at least one part")
    encoded = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def check_task_id(name: str) -> None:
    """Raise ValueError unless ``name`` is a legal task id (what Cloud Tasks would reject
    as INVALID_ARGUMENT). Both adapters call it so the local stack fails the same way."""
    if not _TASK_ID.fullmatch(name):
        raise ValueError(
            f"Illegal task name {name!r}: use letters, digits, hyphens and underscores, "
            f"at most {MAX_TASK_NAME_LENGTH} characters (see task_name())"
        )


def check_queue_id(queue: str) -> None:
    if not _QUEUE_ID.fullmatch(queue):
        raise ValueError(
            f"Illegal queue id {queue!r}: use letters, digits and hyphens, at most 100 characters"
        )


def check_path(path: str) -> None:
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"Task path must be absolute on the target, like '/tasks/x': {path!r}")


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact JSON, UTF-8. NaN and infinities are refused because the
    worker's JSON parser (and any other strict one) would refuse them on delivery, where the
    failure would be retried for hours instead of surfacing here."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"Task payload is {len(body)} bytes; Cloud Tasks accepts at most {MAX_PAYLOAD_BYTES}. "
            "Store the data and enqueue its id instead."
        )
    return body
