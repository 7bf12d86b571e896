"""What the scheduler tick asks of Firestore: due leaderboards and stalled runs, across all
workspaces (collection-group queries; their indexes are in terraform/firestore.tf)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.repositories.base import Doc, leaderboard_ref, transact


class ScheduleRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def due_leaderboards(self, now: datetime, limit: int) -> list[Doc]:
        query = (
            self._db.collection_group("leaderboards")
            .where(filter=firestore.FieldFilter("next_scheduled_at", "<=", now))
            .order_by("next_scheduled_at")
            .limit(limit)
        )
        return [d.to_dict() or {} for d in query.stream()]

    def timers_due(self, timer: str, now: datetime, limit: int) -> list[Doc]:
        """Leaderboards whose ``timer`` (``push_due_at``, ``data_check_at``) is due."""
        query = (
            self._db.collection_group("leaderboards")
            .where(filter=firestore.FieldFilter(timer, "<=", now))
            .order_by(timer)
            .limit(limit)
        )
        return [d.to_dict() or {} for d in query.stream()]

    def set_fields(self, ws: str, lb_id: str, fields: Doc) -> None:
        """Fields the scheduler keeps on a leaderboard (its model suggestions)."""
        leaderboard_ref(self._db, ws, lb_id).update(fields)

    def claim_firing(
        self,
        ws: str,
        lb_id: str,
        due: datetime,
        next_due: datetime | None,
        timer: str = "next_scheduled_at",
    ) -> bool:
        """Advance a leaderboard's ``timer`` past the firing at ``due``; True for the one tick
        that did. Overlapping ticks (Cloud Scheduler may deliver twice) cannot both act."""
        ref = leaderboard_ref(self._db, ws, lb_id)

        def run(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            if not snap.exists or (snap.to_dict() or {}).get(timer) != due:
                return False
            tx.update(ref, {timer: next_due})
            return True

        return transact(self._db, run)

    def stalled_runs(self, status: str, before: datetime, limit: int) -> list[Doc]:
        query = (
            self._db.collection_group("runs")
            .where(filter=firestore.FieldFilter("status", "==", status))
            .where(filter=firestore.FieldFilter("created_at", "<", before))
            .order_by("created_at")
            .limit(limit)
        )
        return [d.to_dict() or {} for d in query.stream()]

    def mark_healed(self, run: Doc, fields: Doc, still: Callable[[Doc], bool]) -> bool:
        """Record ``fields`` on the run for a resumption by the tick, if ``still(run)`` says,
        inside the transaction, that it is due (so concurrent ticks resume it once)."""
        ref = (
            leaderboard_ref(self._db, run["workspace_id"], run["leaderboard_id"])
            .collection("runs")
            .document(run["id"])
        )

        def tx_fn(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            current: Any = snap.to_dict() if snap.exists else None
            if current is None or not still(current):
                return False
            tx.update(ref, fields)
            return True

        return transact(self._db, tx_fn)
