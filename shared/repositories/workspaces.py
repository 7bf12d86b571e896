"""Workspaces and their API tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from shared.repositories.base import Doc, DuplicateId, transact


class WorkspaceRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def create(self, workspace_id: str, record: Doc) -> None:
        try:
            self._db.collection("workspaces").document(workspace_id).create(record)
        except AlreadyExists as exc:
            raise DuplicateId(f"workspace {workspace_id!r} exists") from exc

    def get(self, workspace_id: str) -> Doc | None:
        snap = self._db.collection("workspaces").document(workspace_id).get()
        return snap.to_dict() if snap.exists else None

    def update(self, workspace_id: str, fields: Doc) -> None:
        self._db.collection("workspaces").document(workspace_id).update(fields)

    def create_with_owner(self, workspace_id: str, record: Doc, owner: Doc) -> None:
        """The workspace and its first owner's membership, in one commit: never a workspace
        nobody can reach."""
        batch = self._db.batch()
        batch.create(self._db.collection("workspaces").document(workspace_id), record)
        batch.create(_membership(self._db, workspace_id, owner["uid"]), owner)
        try:
            batch.commit()
        except AlreadyExists as exc:
            raise DuplicateId(f"workspace {workspace_id!r} exists") from exc


def _membership(db: firestore.Client, workspace_id: str, uid: str) -> firestore.DocumentReference:
    return db.collection("memberships").document(f"{workspace_id}__{uid}")


# What a membership change decides, given the person's membership now (or None) and how many
# owners the workspace has: the new membership, or None to remove it.
Decide = Callable[[Doc | None, int], Doc | None]


class MembershipRepository:
    """``memberships/{workspace}__{uid}``: one document per person and workspace, so a
    person's workspaces and a workspace's members are each one equality query."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db
        self._col = db.collection("memberships")

    def get(self, workspace_id: str, uid: str) -> Doc | None:
        snap = _membership(self._db, workspace_id, uid).get()
        return snap.to_dict() if snap.exists else None

    def for_workspace(self, workspace_id: str) -> list[Doc]:
        query = self._col.where(filter=firestore.FieldFilter("workspace_id", "==", workspace_id))
        return sorted((d.to_dict() or {} for d in query.stream()), key=lambda d: d["created_at"])

    def for_person(self, uid: str) -> list[Doc]:
        query = self._col.where(filter=firestore.FieldFilter("uid", "==", uid))
        return sorted((d.to_dict() or {} for d in query.stream()), key=lambda d: d["created_at"])

    def change(self, workspace_id: str, uid: str, decide: Decide) -> Doc | None:
        """Apply ``decide`` in a transaction that also reads the workspace's owners, so two
        concurrent changes cannot leave a workspace without an owner."""
        ref = _membership(self._db, workspace_id, uid)
        owners = self._col.where(
            filter=firestore.FieldFilter("workspace_id", "==", workspace_id)
        ).where(filter=firestore.FieldFilter("role", "==", "owner"))

        def run(tx: firestore.Transaction) -> Doc | None:
            snap = ref.get(transaction=tx)
            current = snap.to_dict() if snap.exists else None
            owner_count = sum(1 for _ in tx.get(owners))
            new = decide(current, owner_count)
            if new is None:
                if current is not None:
                    tx.delete(ref)
            else:
                tx.set(ref, new)
            return new

        return transact(self._db, run)


class TokenRepository:
    """``api_tokens/{sha256(token)}``: a lookup by hash is one document read per request."""

    def __init__(self, db: firestore.Client) -> None:
        self._col = db.collection("api_tokens")

    def create(self, token_hash: str, record: Doc) -> None:
        self._col.document(token_hash).create(record)

    def get(self, token_hash: str) -> Doc | None:
        snap = self._col.document(token_hash).get()
        return snap.to_dict() if snap.exists else None

    def touch(self, token_hash: str, at: datetime) -> None:
        self._col.document(token_hash).update({"last_used_at": at})

    def list(self, workspace_id: str | None) -> list[Doc]:
        query = self._col.where(filter=firestore.FieldFilter("workspace_id", "==", workspace_id))
        docs = [d.to_dict() or {} for d in query.stream()]
        return sorted(docs, key=lambda d: d["created_at"])

    def revoke(self, workspace_id: str | None, token_id: str, at: datetime) -> bool:
        query = (
            self._col.where(filter=firestore.FieldFilter("workspace_id", "==", workspace_id))
            .where(filter=firestore.FieldFilter("token_id", "==", token_id))
            .limit(1)
        )
        for snap in query.stream():
            snap.reference.update({"revoked_at": at})
            return True
        return False
