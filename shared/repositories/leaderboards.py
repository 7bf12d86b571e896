"""Leaderboards, their candidate models, and the workspace's registered models.

Paths::

    workspaces/{ws}/leaderboards/{lb}                  config, model_count, chosen model
    workspaces/{ws}/leaderboards/{lb}/candidates/{lm}  one candidate model
    workspaces/{ws}/registered_models/{id}             endpoint + usage_count

Counters that guard a rule (a plan's model limit, "registered model still in use") change in
the same transaction as the documents they count, so concurrent requests cannot slip past them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.api_core.exceptions import NotFound as NotFound_
from google.cloud import firestore

from shared.domain.errors import Conflict, NotFound
from shared.repositories.base import Doc, DuplicateId, leaderboard_ref, page, transact

LeaderboardCheck = Callable[[Doc], None]


class LeaderboardRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    # --- references ---------------------------------------------------------------------
    def _workspace(self, ws: str) -> Any:
        return self._db.collection("workspaces").document(ws)

    def _lb(self, ws: str, lb_id: str) -> Any:
        return leaderboard_ref(self._db, ws, lb_id)

    def _candidates(self, ws: str, lb_id: str) -> Any:
        return self._lb(ws, lb_id).collection("candidates")

    def _registered(self, ws: str) -> Any:
        return self._workspace(ws).collection("registered_models")

    # --- leaderboards -------------------------------------------------------------------
    def create(self, ws: str, lb_id: str, record: Doc) -> None:
        try:
            self._lb(ws, lb_id).create(record)
        except AlreadyExists as exc:
            raise DuplicateId(f"leaderboard {lb_id!r} exists") from exc

    def get(self, ws: str, lb_id: str) -> Doc | None:
        snap = self._lb(ws, lb_id).get()
        return snap.to_dict() if snap.exists else None

    def require(self, ws: str, lb_id: str) -> Doc:
        """The leaderboard, or NotFound: another workspace's id reads exactly like a missing one
        because every path is under the caller's own workspace."""
        doc = self.get(ws, lb_id)
        if doc is None:
            raise NotFound("Leaderboard not found")
        return doc

    def has_events(self, ws: str, lb_id: str) -> bool:
        """Whether any PUSH event was ever stored (the events themselves: EventRepository)."""
        events = self._lb(ws, lb_id).collection("events").limit(1).select([])
        return any(True for _ in events.stream())

    def page(self, ws: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        col = self._workspace(ws).collection("leaderboards")
        return page(col, order_by="created_at", limit=limit, offset=offset)

    def update(self, ws: str, lb_id: str, mutate: Callable[[Doc], Doc]) -> Doc:
        """Read, ``mutate`` (which validates and may raise), write: all in one transaction so
        two PATCHes cannot lose each other's fields."""
        ref = self._lb(ws, lb_id)

        def run(tx: firestore.Transaction) -> Doc:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound("Leaderboard not found")
            new = mutate(snap.to_dict() or {})
            tx.set(ref, new)
            return new

        return transact(self._db, run)

    def delete(self, ws: str, lb_id: str, check: LeaderboardCheck) -> None:
        """Remove the leaderboard and everything under it.

        The leaderboard document and the registry counters change in one transaction, so the
        leaderboard disappears from the API at once; its sub-collections (candidates, later
        runs and datasets) are then removed in bulk. A crash in between leaves only unreachable
        children, which a retry of the same DELETE would also remove.
        """
        ref = self._lb(ws, lb_id)

        def run(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound("Leaderboard not found")
            check(snap.to_dict() or {})
            cands = [c.to_dict() or {} for c in self._candidates(ws, lb_id).stream(transaction=tx)]
            refs = [c["model_id"] for c in cands if c.get("model_id")]
            for model_id in refs:
                tx.update(self._registered(ws).document(model_id), {"usage_count": _inc(-1)})
            tx.delete(ref)

        transact(self._db, run)
        self._db.recursive_delete(ref)

    # --- candidates ---------------------------------------------------------------------
    def add_candidate(
        self,
        ws: str,
        lb_id: str,
        lm_id: str,
        record: Doc,
        *,
        check: LeaderboardCheck,
        registered_model_id: str | None,
    ) -> tuple[Doc, bool]:
        """Add a candidate unless one with ``lm_id`` exists; returns (document, created).

        ``check`` sees the leaderboard inside the transaction (plan limits use its count).
        """
        lb_ref = self._lb(ws, lb_id)
        ref = self._candidates(ws, lb_id).document(lm_id)

        def run(tx: firestore.Transaction) -> tuple[Doc, bool]:
            lb = lb_ref.get(transaction=tx)
            if not lb.exists:
                raise NotFound("Leaderboard not found")
            existing = ref.get(transaction=tx)
            if existing.exists:
                return existing.to_dict() or {}, False
            reg_ref = None
            if registered_model_id is not None:
                reg_ref = self._registered(ws).document(registered_model_id)
                if not reg_ref.get(transaction=tx).exists:
                    raise NotFound(f"Registered model {registered_model_id!r} not found")
            check(lb.to_dict() or {})
            tx.create(ref, record)
            tx.update(lb_ref, {"model_count": _inc(1)})
            if reg_ref is not None:
                tx.update(reg_ref, {"usage_count": _inc(1)})
            return record, True

        return transact(self._db, run)

    def get_candidate(self, ws: str, lb_id: str, lm_id: str) -> Doc | None:
        snap = self._candidates(ws, lb_id).document(lm_id).get()
        return snap.to_dict() if snap.exists else None

    def update_candidate(self, ws: str, lb_id: str, lm_id: str, fields: Doc) -> None:
        """Set fields the service keeps on a candidate (its catalog identity); a candidate
        removed meanwhile stays removed."""
        with contextlib.suppress(NotFound_):
            self._candidates(ws, lb_id).document(lm_id).update(fields)

    def candidates(self, ws: str, lb_id: str) -> list[Doc]:
        docs = [d.to_dict() or {} for d in self._candidates(ws, lb_id).stream()]
        return sorted(docs, key=lambda d: (d["created_at"], d["id"]))

    def page_candidates(
        self, ws: str, lb_id: str, *, limit: int, offset: int
    ) -> tuple[list[Doc], int]:
        return page(self._candidates(ws, lb_id), order_by="created_at", limit=limit, offset=offset)

    def remove_candidate(self, ws: str, lb_id: str, lm_id: str, at: datetime) -> None:
        lb_ref = self._lb(ws, lb_id)
        ref = self._candidates(ws, lb_id).document(lm_id)

        def run(tx: firestore.Transaction) -> None:
            lb = lb_ref.get(transaction=tx)
            snap = ref.get(transaction=tx)
            if not lb.exists or not snap.exists:
                raise NotFound("Candidate model not found")
            cand = snap.to_dict() or {}
            lb_update: Doc = {"model_count": _inc(-1), "updated_at": at}
            # A removed model cannot stay the chosen one.
            if (lb.to_dict() or {}).get("chosen_leaderboard_model_id") == lm_id:
                lb_update["chosen_leaderboard_model_id"] = None
            tx.update(lb_ref, lb_update)
            if cand.get("model_id"):
                reg = self._registered(ws).document(cand["model_id"])
                tx.update(reg, {"usage_count": _inc(-1)})
            tx.delete(ref)

        transact(self._db, run)

    # --- registered models --------------------------------------------------------------
    def create_registered(self, ws: str, model_id: str, record: Doc) -> None:
        try:
            self._registered(ws).document(model_id).create(record)
        except AlreadyExists as exc:
            raise DuplicateId(f"model {model_id!r} exists") from exc

    def get_registered(self, ws: str, model_id: str) -> Doc | None:
        snap = self._registered(ws).document(model_id).get()
        return snap.to_dict() if snap.exists else None

    def page_registered(self, ws: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        return page(self._registered(ws), order_by="created_at", limit=limit, offset=offset)

    def delete_registered(self, ws: str, model_id: str) -> None:
        ref = self._registered(ws).document(model_id)

        def run(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound("Model not found")
            used = int((snap.to_dict() or {}).get("usage_count", 0))
            if used > 0:
                raise Conflict(
                    f"Model is a candidate on {used} leaderboard(s); remove it there first"
                )
            tx.delete(ref)

        transact(self._db, run)


def _inc(n: int) -> Any:
    return firestore.Increment(n)
