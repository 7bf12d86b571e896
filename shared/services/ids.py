"""Ids for new documents, and the Idempotency-Key rule.

A create that carries an ``Idempotency-Key`` gets an id derived from the workspace, the kind of
resource and the key, so a retried request lands on the same document: Firestore's ``create``
is the lock. A replay with the same body returns the stored resource; the same key with a
different body is refused (the IETF idempotency-key draft's 422).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from shared.domain.errors import InvalidInput

MAX_KEY_LENGTH = 255


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def derived_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{prefix}_{digest}"


def fingerprint(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def resource_id(prefix: str, workspace_id: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return new_id(prefix)
    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidInput.field(
            ("header", "Idempotency-Key"), f"must be 1 to {MAX_KEY_LENGTH} characters"
        )
    return derived_id(prefix, workspace_id, prefix, idempotency_key)


def check_replay(stored: Mapping[str, Any], body_fingerprint: str) -> None:
    if stored.get("request_fingerprint") != body_fingerprint:
        raise InvalidInput.field(
            ("header", "Idempotency-Key"),
            "this key was already used with a different request body",
        )
