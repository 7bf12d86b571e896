"""Helpers every repository shares: paging a query and counting it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.api_core.exceptions import Aborted
from google.cloud import firestore

from shared.domain.errors import Conflict, TransientFailure

T = TypeVar("T")

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
