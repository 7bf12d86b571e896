"""Workspaces, API tokens and authentication: who may call, and on behalf of which workspace."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Protocol

from shared.domain.accounts import Person, not_a_member
from shared.domain.auth import ADMIN_SCOPE, ALL_SCOPES, Principal, role_scopes
from shared.domain.candidates import token_hint
from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, NotFound, PodiumError, Refused, Unauthenticated
from shared.domain.plans import PLANS
from shared.domain.tokens import (
    TOKEN_PREFIX,
    TokenPublic,
    hash_token,
    new_token,
    token_id_for,
)
from shared.repositories.workspaces import (
    MembershipRepository,
    TokenRepository,
    WorkspaceRepository,
)
from shared.secrets import SecretBox


class Verifier(Protocol):
    def verify(self, id_token: str) -> Person: ...


def create_workspace(
    *,
    workspaces: WorkspaceRepository,
    clock: Clock,
    name: str,
    plan: str = "free",
    workspace_id: str | None = None,
) -> dict[str, object]:
    if plan not in PLANS:
        raise InvalidInput.field("plan", f"unknown plan {plan!r}; known: {sorted(PLANS)}")
    if not name.strip():
        raise InvalidInput.field("name", "a workspace needs a name")
    ws_id = workspace_id or "ws_" + secrets.token_hex(8)
    record = {"id": ws_id, "name": name.strip(), "plan": plan, "created_at": clock()}
    workspaces.create(ws_id, record)
    return record


def mint_token(
    *,
    tokens: TokenRepository,
    workspaces: WorkspaceRepository,
    clock: Clock,
    workspace_id: str,
    scopes: frozenset[str] = ALL_SCOPES,
    name: str | None = None,
    created_by: str | None = None,
) -> tuple[str, TokenPublic]:
    """Create a token; the plaintext is returned once and never stored."""
    if workspaces.get(workspace_id) is None:
        raise NotFound(f"Workspace {workspace_id!r} not found")
    token = new_token()
    token_hash = hash_token(token)
    record = {
        "token_id": token_id_for(token_hash),
        "workspace_id": workspace_id,
        "name": name,
        "created_by": created_by,
        "scopes": sorted(scopes),
        "prefix": token[: len("podium_") + 4],
        "created_at": clock(),
        "last_used_at": None,
        "revoked_at": None,
    }
    tokens.create(token_hash, record)
    return token, TokenPublic.model_validate(record)


def mint_admin_token(
    *, tokens: TokenRepository, clock: Clock, name: str | None = None
) -> tuple[str, TokenPublic]:
    """A platform admin's token: stored hashed like any other, in no workspace, with the admin
    scope only (so it cannot read or change any workspace's data)."""
    token = new_token()
    token_hash = hash_token(token)
    record = {
        "token_id": token_id_for(token_hash),
        "workspace_id": None,
        "admin": True,
        "name": name,
        "scopes": [ADMIN_SCOPE],
        "prefix": token[: len("podium_") + 4],
        "created_at": clock(),
        "last_used_at": None,
        "revoked_at": None,
    }
    tokens.create(token_hash, record)
    return token, TokenPublic.model_validate(record)


def list_tokens(*, tokens: TokenRepository, workspace_id: str | None) -> list[TokenPublic]:
    """A workspace's tokens; ``None`` lists the platform admins' tokens."""
    return [TokenPublic.model_validate(t) for t in tokens.list(workspace_id)]


def revoke_token(
    *, tokens: TokenRepository, clock: Clock, workspace_id: str | None, token_id: str
) -> None:
    """Revoke a workspace's token; ``workspace_id=None`` revokes a platform admin's."""
    if not tokens.revoke(workspace_id, token_id, clock()):
        where = f"workspace {workspace_id!r}" if workspace_id else "the admin tokens"
        raise NotFound(f"Token {token_id!r} not found in {where}")


def authenticate(
    *,
    tokens: TokenRepository,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    identity: Verifier,
    clock: Clock,
    authorization: str | None,
    workspace_header: str | None,
    touch_interval: timedelta,
) -> Principal:
    """Resolve an ``Authorization: Bearer`` header to a principal, or raise Unauthenticated.

    An API token (``podium_...``) is looked up by its hash; anything else is taken for a
    Firebase ID token, a signed-in person's session. Every failure of a token reads the same to
    the caller, so a probe learns nothing about which tokens exist or were revoked.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Missing bearer token (Authorization: Bearer <token>)")
    if not token.startswith(TOKEN_PREFIX):
        person = identity.verify(token)
        return session_principal(
            workspaces=workspaces,
            memberships=memberships,
            person=person,
            workspace_header=workspace_header,
        )
    token_hash = hash_token(token)
    record = tokens.get(token_hash)
    if record is None or record.get("revoked_at") is not None:
        raise Unauthenticated("Invalid or revoked token")
    admin = record.get("admin") is True and record.get("workspace_id") is None
    workspace = None if admin else workspaces.get(record["workspace_id"])
    if workspace is None and not admin:
        raise Unauthenticated("Invalid or revoked token")
    now = clock()
    last = record.get("last_used_at")
    # Throttled: a write per request would contend on one document for a busy token.
    if last is None or now - last >= touch_interval:
        tokens.touch(token_hash, now)
    if admin:
        return Principal(
            workspace_id="",
            plan="",
            scopes=frozenset({ADMIN_SCOPE}),
            token_id=record["token_id"],
            is_admin=True,
        )
    return Principal(
        workspace_id=record["workspace_id"],
        plan=str((workspace or {}).get("plan", "free")),
        scopes=frozenset(record.get("scopes", [])),
        token_id=record["token_id"],
    )


def session_principal(
    *,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    person: Person,
    workspace_header: str | None,
) -> Principal:
    """A person acts in the workspace ``X-Workspace-Id`` names, or in their only one. Without
    one the principal still reaches the session routes (making a workspace, listing them);
    any workspace route answers why it has none (``workspace_problem``)."""
    ws_id = (workspace_header or "").strip()
    problem: PodiumError | None = None
    membership = None
    if ws_id:
        membership = memberships.get(ws_id, person.uid) if _plausible_id(ws_id) else None
        if membership is None:
            problem = not_a_member(ws_id)
    else:
        mine = memberships.for_person(person.uid)
        if len(mine) == 1:
            membership = mine[0]
        elif not mine:
            problem = NotFound(
                "You belong to no workspace yet: create one with POST /api/workspaces"
            )
        else:
            problem = Refused(
                f"You belong to {len(mine)} workspaces: name one in the X-Workspace-Id header "
                "(GET /api/workspaces lists them)"
            )
    workspace = workspaces.get(membership["workspace_id"]) if membership else None
    if membership is not None and workspace is None:  # deleted under the membership
        membership, problem = None, not_a_member(ws_id or "")
    role = membership["role"] if membership else None
    return Principal(
        workspace_id=membership["workspace_id"] if membership else "",
        plan=str((workspace or {}).get("plan", "free")),
        scopes=role_scopes(role) if role else frozenset(),
        token_id=f"user:{person.uid}",
        user_id=person.uid,
        email=person.email,
        role=role,
        workspace_problem=problem,
    )


def _plausible_id(ws_id: str) -> bool:
    # A header the store could not hold as part of a document id names no workspace.
    return len(ws_id) <= 200 and "/" not in ws_id and ws_id not in {".", ".."}


def set_hf_token(
    *, workspaces: WorkspaceRepository, secrets: SecretBox, workspace_id: str, token: str | None
) -> None:
    """The workspace's Hugging Face token, sent when its runs read dataset files (private
    datasets). Stored encrypted; ``None`` removes it."""
    if workspaces.get(workspace_id) is None:
        raise NotFound(f"Workspace {workspace_id!r} not found")
    token = (token or "").strip() or None
    workspaces.update(
        workspace_id,
        {
            "hf_token_encrypted": secrets.encrypt(token) if token else None,
            "hf_token_hint": token_hint(token),
        },
    )


def hf_token_for(
    *, workspaces: WorkspaceRepository, secrets: SecretBox, workspace_id: str
) -> str | None:
    stored = (workspaces.get(workspace_id) or {}).get("hf_token_encrypted")
    return secrets.decrypt(stored) if stored else None
