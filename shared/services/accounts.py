"""A signed-in person's workspaces: creating them, their members and roles, the API tokens and
integrations in their settings.

Every operation names its workspace in the path and checks the caller's membership of *that*
workspace (not the one ``X-Workspace-Id`` chose): a non-member gets the same 404 as for a
workspace that does not exist.
"""

from __future__ import annotations

import secrets as random
from typing import Protocol

from shared.domain.accounts import (
    MAX_MEMBERS_PER_WORKSPACE,
    MAX_TOKENS_PER_WORKSPACE,
    IntegrationPublic,
    MemberAdd,
    MemberList,
    MemberPublic,
    OpenRouterKey,
    Person,
    TokenCreate,
    TokenCreated,
    TokenList,
    WorkspaceCreate,
    WorkspaceList,
    WorkspacePublic,
    check_grant,
    is_uid,
    not_a_member,
)
from shared.domain.auth import Principal, Role, may_manage
from shared.domain.base import parse
from shared.domain.candidates import token_hint
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, NotFound, PermissionDenied
from shared.domain.plans import Plan
from shared.domain.tokens import is_token_id
from shared.repositories.base import Doc
from shared.repositories.workspaces import (
    MembershipRepository,
    TokenRepository,
    WorkspaceRepository,
)
from shared.secrets import SecretBox
from shared.services import access


class Directory(Protocol):
    def find_by_email(self, email: str) -> Person | None: ...


def _membership(memberships: MembershipRepository, principal: Principal, ws_id: str) -> Doc:
    assert principal.user_id is not None, "session routes only"
    found = memberships.get(ws_id, principal.user_id)
    if found is None:
        raise not_a_member(ws_id)
    return found


def _manager(memberships: MembershipRepository, principal: Principal, ws_id: str) -> Doc:
    found = _membership(memberships, principal, ws_id)
    if not may_manage(found["role"]):
        raise PermissionDenied("Only the workspace's owners and admins may change its settings")
    return found


# --- workspaces ------------------------------------------------------------------------------
def create_workspace(
    *,
    workspaces: WorkspaceRepository,
    clock: Clock,
    principal: Principal,
    body: object,
) -> WorkspacePublic:
    """A new workspace, on the free plan, owned by the person who made it."""
    spec = parse(WorkspaceCreate, body)
    assert principal.user_id is not None, "session routes only"
    now = clock()
    ws_id = "ws_" + random.token_hex(8)
    record = {"id": ws_id, "name": spec.name, "plan": Plan.FREE.value, "created_at": now}
    owner = {
        "workspace_id": ws_id,
        "uid": principal.user_id,
        "email": principal.email,
        "role": Role.OWNER.value,
        "added_by": None,
        "created_at": now,
    }
    workspaces.create_with_owner(ws_id, record, owner)
    return WorkspacePublic.model_validate({**record, "role": Role.OWNER.value})


def list_workspaces(
    *, workspaces: WorkspaceRepository, memberships: MembershipRepository, principal: Principal
) -> WorkspaceList:
    assert principal.user_id is not None, "session routes only"
    items = []
    for m in memberships.for_person(principal.user_id):
        ws = workspaces.get(m["workspace_id"])
        if ws is not None:
            items.append(WorkspacePublic.model_validate({**ws, "role": m["role"]}))
    return WorkspaceList(items=items)


# --- members ---------------------------------------------------------------------------------
def add_member(
    *,
    memberships: MembershipRepository,
    directory: Directory,
    clock: Clock,
    principal: Principal,
    workspace_id: str,
    body: object,
) -> tuple[MemberPublic, bool]:
    """Add a person who has signed in at least once, or change a member's role. Returns the
    membership and whether it is new."""
    spec = parse(MemberAdd, body)
    actor = _manager(memberships, principal, workspace_id)
    person = directory.find_by_email(spec.email)
    if person is None:
        raise NotFound(
            f"Nobody has signed in with {spec.email!r} yet: ask them to sign in once, then add them"
        )
    if len(memberships.for_workspace(workspace_id)) >= MAX_MEMBERS_PER_WORKSPACE:
        raise Conflict(f"A workspace has at most {MAX_MEMBERS_PER_WORKSPACE} members")
    created = False

    def decide(current: Doc | None, owners: int) -> Doc | None:
        nonlocal created
        check_grant(
            actor_role=actor["role"],
            target_current=current["role"] if current else None,
            target_new=spec.role.value,
        )
        if current and current["role"] == Role.OWNER and spec.role != Role.OWNER and owners <= 1:
            raise Conflict("This is the workspace's last owner: make someone else owner first")
        created = current is None
        return {
            **(current or {}),
            "workspace_id": workspace_id,
            "uid": person.uid,
            "email": person.email,
            "role": spec.role.value,
            "added_by": (current or {}).get("added_by") or principal.actor,
            "created_at": (current or {}).get("created_at") or clock(),
        }

    record = memberships.change(workspace_id, person.uid, decide)
    return MemberPublic.model_validate(record), created


def list_members(
    *, memberships: MembershipRepository, principal: Principal, workspace_id: str
) -> MemberList:
    _membership(memberships, principal, workspace_id)
    return MemberList(
        items=[MemberPublic.model_validate(m) for m in memberships.for_workspace(workspace_id)]
    )


def remove_member(
    *, memberships: MembershipRepository, principal: Principal, workspace_id: str, uid: str
) -> None:
    """Owners and admins remove members below or at their rank; anyone may leave. The last
    owner stays."""
    actor = _membership(memberships, principal, workspace_id)
    if not is_uid(uid):  # Firebase uids are at most 128 characters
        raise NotFound(f"No member {uid[:140]!r} in workspace {workspace_id!r}")

    def decide(current: Doc | None, owners: int) -> Doc | None:
        if current is None:
            raise NotFound(f"No member {uid!r} in workspace {workspace_id!r}")
        if uid != principal.user_id:
            check_grant(actor_role=actor["role"], target_current=current["role"], target_new=None)
        if current["role"] == Role.OWNER and owners <= 1:
            raise Conflict("This is the workspace's last owner: make someone else owner first")
        return None

    memberships.change(workspace_id, uid, decide)


# --- API tokens ------------------------------------------------------------------------------
def create_token(
    *,
    tokens: TokenRepository,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    clock: Clock,
    principal: Principal,
    workspace_id: str,
    body: object,
) -> TokenCreated:
    spec = parse(TokenCreate, body)
    _manager(memberships, principal, workspace_id)
    live = [t for t in tokens.list(workspace_id) if t.get("revoked_at") is None]
    if len(live) >= MAX_TOKENS_PER_WORKSPACE:
        raise Conflict(
            f"A workspace has at most {MAX_TOKENS_PER_WORKSPACE} live tokens: revoke one first"
        )
    token, public = access.mint_token(
        tokens=tokens,
        workspaces=workspaces,
        clock=clock,
        workspace_id=workspace_id,
        scopes=frozenset(spec.scopes),
        name=spec.name,
        created_by=principal.actor,
    )
    return TokenCreated.model_validate({**public.model_dump(), "token": token})


def list_tokens(
    *,
    tokens: TokenRepository,
    memberships: MembershipRepository,
    principal: Principal,
    workspace_id: str,
) -> TokenList:
    _manager(memberships, principal, workspace_id)
    return TokenList(items=access.list_tokens(tokens=tokens, workspace_id=workspace_id))


def revoke_token(
    *,
    tokens: TokenRepository,
    memberships: MembershipRepository,
    clock: Clock,
    principal: Principal,
    workspace_id: str,
    token_id: str,
) -> None:
    _manager(memberships, principal, workspace_id)
    if not is_token_id(token_id):  # never a query on a value no token id can be
        raise NotFound(f"Token {token_id!r} not found in workspace {workspace_id!r}")
    access.revoke_token(tokens=tokens, clock=clock, workspace_id=workspace_id, token_id=token_id)


# --- integrations ----------------------------------------------------------------------------
def put_openrouter_key(
    *,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    secrets: SecretBox,
    clock: Clock,
    principal: Principal,
    workspace_id: str,
    body: object,
) -> IntegrationPublic:
    spec = parse(OpenRouterKey, body)
    _manager(memberships, principal, workspace_id)
    now = clock()
    workspaces.update(
        workspace_id,
        {
            "openrouter": {
                "key_encrypted": secrets.encrypt(spec.api_key),
                "hint": token_hint(spec.api_key),
                "updated_at": now,
                "updated_by": principal.actor,
            }
        },
    )
    return IntegrationPublic(
        provider="openrouter", configured=True, hint=token_hint(spec.api_key), updated_at=now
    )


def get_openrouter_key(
    *,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    principal: Principal,
    workspace_id: str,
) -> IntegrationPublic:
    _membership(memberships, principal, workspace_id)
    stored = (workspaces.get(workspace_id) or {}).get("openrouter") or {}
    return IntegrationPublic(
        provider="openrouter",
        configured=bool(stored.get("key_encrypted")),
        hint=stored.get("hint"),
        updated_at=stored.get("updated_at"),
    )


def delete_openrouter_key(
    *,
    workspaces: WorkspaceRepository,
    memberships: MembershipRepository,
    principal: Principal,
    workspace_id: str,
) -> IntegrationPublic:
    _manager(memberships, principal, workspace_id)
    workspaces.update(workspace_id, {"openrouter": None})
    return IntegrationPublic(provider="openrouter", configured=False)


def openrouter_key_encrypted(*, workspaces: WorkspaceRepository, workspace_id: str) -> str | None:
    """The workspace's OpenRouter key as stored (encrypted): runs copy it into their endpoint
    snapshots, so a run keeps the key it started with."""
    stored = (workspaces.get(workspace_id) or {}).get("openrouter") or {}
    key = stored.get("key_encrypted")
    return str(key) if key else None
