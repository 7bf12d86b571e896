"""Helpers every repository shares: paging a query and counting it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.api_core.exceptions import Aborted
from google.cloud import firestore

from shared.domain.errors import Conflict, TransientFailure

T = TypeVar("T")
K = TypeVar("K")

Doc = dict[str, Any]


class DuplicateId(Conflict):
    """A document with this id exists already (how idempotent creates detect a replay)."""


def leaderboard_ref(db: firestore.Client, ws: str, lb_id: str) -> Any:
    """``workspaces/{ws}/leaderboards/{lb_id}``: every repository's way to a leaderboard (its
    runs, events, versions and counters live below it)."""
    return db.collection("workspaces").document(ws).collection("leaderboards").document(lb_id)


def page(query: Any, *, order_by: str, limit: int, offset: int) -> tuple[list[Doc], int]:
    """One page of ``query`` newest first, and the total it would list.

    The total is a count aggregation (one read per 1000 index entries), not a scan.
    """
    total = int(query.count().get()[0][0].value)
    docs = (
        query.order_by(order_by, direction=firestore.Query.DESCENDING)
        .offset(offset)
        .limit(limit)
        .stream()
    )
    return [d.to_dict() or {} for d in docs], total


# Contended commits are retried by the client keeping their "spot in line"; more attempts than
# the default 5 let a burst of writers to one document (a leaderboard's counters) all land.
TRANSACTION_ATTEMPTS = 20


# A read inside a transaction can itself be aborted ("Transaction lock timeout", when other
# transactions hold the documents it reads); the client retries only aborted commits, so such
# a transaction is run again from the start, a few times.
READ_ABORT_ATTEMPTS = 5


def transact(db: firestore.Client, fn: Callable[[firestore.Transaction], T]) -> T:
    """Run ``fn`` in a transaction; exhausted retries become a retryable 503, not a 500."""
    wrapped = firestore.transactional(fn)
    busy = TransientFailure(
        "Too many concurrent changes to the same resource; retry shortly", retry_after=1
    )
    for attempt in range(READ_ABORT_ATTEMPTS):
        try:
            result: T = wrapped(db.transaction(max_attempts=TRANSACTION_ATTEMPTS))
        except Aborted as exc:  # aborted at a read: the transaction was rolled back
            if attempt + 1 == READ_ABORT_ATTEMPTS:
                raise busy from exc
            continue
        except ValueError as exc:
            if isinstance(exc.__cause__, Aborted):
                raise busy from exc
            raise
        return result
    raise busy  # not reached: the loop returns or raises


# One commit's documents, by the JSON size of their values. Firestore takes 10 MiB a request,
# but the emulator (and gRPC's default) refuses a message over 4 MiB, and the wire encoding
# of a document measured up to 1.7 times its JSON (field names repeated in every map entry):
# 2 MiB of JSON stays under both.
COMMIT_MAX_BYTES = 2 * 1024 * 1024
COMMIT_MAX_WRITES = 400


def _as_json_size(value: Any) -> Any:
    """For ``commit_groups``' estimate: a blob counts its length, not its repr's."""
    return "x" * len(value) if isinstance(value, bytes) else str(value)


def commit_groups(docs: Sequence[tuple[K, Doc]], *, extra_writes: int = 0) -> list[list[K]]:
    """Keys of ``docs`` in groups to commit together: at most ``COMMIT_MAX_BYTES`` of JSON and
    ``COMMIT_MAX_WRITES`` writes (``extra_writes`` per group kept free) each; a document
    larger than the budget (under 1 MiB, Firestore's own limit) goes alone."""
    groups: list[list[K]] = []
    size = COMMIT_MAX_BYTES
    for key, doc in docs:
        est = len(json.dumps(doc, default=_as_json_size))
        if size + est > COMMIT_MAX_BYTES or len(groups[-1]) >= COMMIT_MAX_WRITES - extra_writes:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += est
    return groups
