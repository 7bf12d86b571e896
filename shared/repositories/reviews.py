"""Review items: ``workspaces/{ws}/leaderboards/{lb}/review_items/{id}``, one model's answer to
one sample, with its reviewers' scores in a map keyed by reviewer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1 import aggregation

from shared.domain.errors import NotFound
from shared.repositories.base import Doc, commit_groups, leaderboard_ref, transact

# Decides a review's effect inside the transaction: (item now) -> fields to set on it.
ReviewChange = Callable[[Doc], Doc]


class ReviewRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _items(self, ws: str, lb_id: str) -> Any:
        return leaderboard_ref(self._db, ws, lb_id).collection("review_items")

    def create_missing(self, ws: str, lb_id: str, items: list[Doc]) -> int:
        """Create the items that do not exist yet (a duplicate task creates none, and never
        touches the reviews already given); returns how many were created."""
        col = self._items(ws, lb_id)
        created = 0
        by_id = {it["id"]: it for it in items}
        for group in commit_groups([(it["id"], it) for it in items]):
            part = [by_id[i] for i in group]
            for _attempt in range(3):
                refs = [col.document(it["id"]) for it in part]
                existing = {s.id for s in self._db.get_all(refs) if s.exists}
                todo = [it for it in part if it["id"] not in existing]
                if not todo:
                    break
                batch = self._db.batch()
                for it in todo:
                    batch.create(col.document(it["id"]), it)
                try:
                    batch.commit()
                    created += len(todo)
                    break
                except AlreadyExists:
                    continue  # a concurrent duplicate created some: read again
        return created

    def get(self, ws: str, lb_id: str, item_id: str) -> Doc | None:
        snap = self._items(ws, lb_id).document(item_id).get()
        return snap.to_dict() if snap.exists else None

    def page(
        self, ws: str, lb_id: str, *, status: str, limit: int, offset: int
    ) -> tuple[list[Doc], int]:
        query = self._items(ws, lb_id).where(filter=firestore.FieldFilter("status", "==", status))
        total = int(query.count().get()[0][0].value)
        docs = query.order_by("order_key").offset(offset).limit(limit).stream()
        return [d.to_dict() or {} for d in docs], total

    def for_run(self, ws: str, lb_id: str, run_id: str, *, audit: bool) -> list[Doc]:
        query = (
            self._items(ws, lb_id)
            .where(filter=firestore.FieldFilter("run_id", "==", run_id))
            .where(filter=firestore.FieldFilter("audit", "==", audit))
        )
        return [d.to_dict() or {} for d in query.stream()]

    def audited(self, ws: str, lb_id: str, *, run_id: str | None = None) -> list[Doc]:
        """Audit items that people reviewed (of one run, or of the whole leaderboard)."""
        query = (
            self._items(ws, lb_id)
            .where(filter=firestore.FieldFilter("audit", "==", True))
            .where(filter=firestore.FieldFilter("status", "==", "done"))
        )
        if run_id is not None:
            query = query.where(filter=firestore.FieldFilter("run_id", "==", run_id))
        return [d.to_dict() or {} for d in query.stream()]

    def pending_for_run(self, ws: str, lb_id: str, run_id: str) -> int:
        query = (
            self._items(ws, lb_id)
            .where(filter=firestore.FieldFilter("run_id", "==", run_id))
            .where(filter=firestore.FieldFilter("audit", "==", False))
            .where(filter=firestore.FieldFilter("status", "==", "pending"))
        )
        agg = aggregation.AggregationQuery(query)
        agg.count(alias="n")
        row: Any = agg.get()[0]
        return int(row[0].value)

    def review(self, ws: str, lb_id: str, item_id: str, change: ReviewChange) -> Doc:
        """Apply a review in a transaction (two reviewers at once both land; the same reviewer
        twice keeps the last). Returns the item as written."""
        ref = self._items(ws, lb_id).document(item_id)

        def run(tx: firestore.Transaction) -> Doc:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"Review item {item_id!r} not found")
            current = snap.to_dict() or {}
            fields = change(current)
            tx.update(ref, fields)
            return {**current, **fields}

        return transact(self._db, run)
