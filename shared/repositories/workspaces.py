"""Workspaces and their API tokens."""

from __future__ import annotations

from datetime import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from shared.repositories.base import Doc, DuplicateId


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
