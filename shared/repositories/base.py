"""Helpers every repository shares: paging a query and counting it."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.domain.errors import Conflict

Doc = dict[str, Any]


class DuplicateId(Conflict):
    """A document with this id exists already (how idempotent creates detect a replay)."""


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
