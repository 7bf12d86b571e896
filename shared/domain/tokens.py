"""API tokens: how they look, how they are stored, what a listing shows."""

from __future__ import annotations

import hashlib
import secrets

from pydantic import Field

from shared.domain.base import ResponseModel, Timestamp

TOKEN_PREFIX = "podium_"  # noqa: S105 - a public prefix, not a secret


def new_token() -> str:
    # 256 bits from the OS CSPRNG; the prefix makes leaked tokens easy to scan for.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are high-entropy, so one SHA-256 is enough (no slow KDF needed, unlike passwords)
    and lets a request find its token with a single document read."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_for(token_hash: str) -> str:
    """A public handle for listing and revoking; derived from the hash, useless to an attacker."""
    return "tok_" + token_hash[:16]


def is_token_id(value: str) -> bool:
    return (
        len(value) == 20
        and value.startswith("tok_")
        and all(c in "0123456789abcdef" for c in value[4:])
    )


class TokenPublic(ResponseModel):
    token_id: str
    workspace_id: str | None = Field(description="None for a platform admin's token")
    name: str | None
    created_by: str | None = Field(
        default=None, description="Who made it: 'user:<uid>' from settings, else an operator"
    )
    scopes: list[str]
    prefix: str = Field(description="The first characters of the token, to recognise it")
    created_at: Timestamp
    last_used_at: Timestamp | None = None
    revoked_at: Timestamp | None = None
