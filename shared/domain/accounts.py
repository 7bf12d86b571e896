"""People's side of a workspace: creating one, its members and their roles, the API tokens made
in its settings, and its integrations (request and response models, and the role rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from shared.domain.auth import ROLE_RANK, Role, parse_scopes
from shared.domain.base import RequestModel, ResponseModel, Timestamp, case_insensitive
from shared.domain.errors import NotFound, PermissionDenied
from shared.domain.tokens import TokenPublic

# Deliberately loose (one @, a dot in the domain, no spaces): Firebase Auth is the authority
# on who exists; this only catches typos before a lookup.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_TOKENS_PER_WORKSPACE = 100
MAX_MEMBERS_PER_WORKSPACE = 500


@dataclass(frozen=True)
class Person:
    """A signed-in person: their Firebase Auth uid and email."""

    uid: str
    email: str | None


class WorkspaceCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"examples": [{"name": "Acme support"}]}
    }

    name: str = Field(min_length=1, max_length=200, description="Shown in the workspace list")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a workspace needs a name")
        return v.strip()


class WorkspacePublic(ResponseModel):
    id: str
    name: str
    plan: str
    role: str = Field(description="The caller's role in this workspace")
    created_at: Timestamp


class WorkspaceList(ResponseModel):
    items: list[WorkspacePublic]


RoleField = Annotated[Role, case_insensitive(Role)]


class MemberAdd(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"examples": [{"email": "ada@example.com", "role": "admin"}]}
    }

    email: str = Field(max_length=320, description="The email of a person who has signed in")
    role: RoleField = Role.MEMBER

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip()
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v


class MemberPublic(ResponseModel):
    uid: str
    email: str | None
    role: str
    added_by: str | None = None
    created_at: Timestamp


class MemberList(ResponseModel):
    items: list[MemberPublic]


def _scopes(v: object) -> object:
    # Anything but names (numbers, objects) is left to the type check, which names the item.
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return sorted(parse_scopes(v))
    return v


class TokenCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [{"name": "CI", "scopes": ["leaderboards:read", "leaderboards:run"]}]
        }
    }

    name: str | None = Field(default=None, max_length=200)
    scopes: Annotated[list[str], BeforeValidator(_scopes)] = Field(
        min_length=1, description="Scopes the token holds (see the README's scope table)"
    )


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown once, stored only as a hash")


class TokenList(ResponseModel):
    items: list[TokenPublic]


class OpenRouterKey(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"examples": [{"api_key": "sk-or-v1-0123456789abcdef"}]}
    }

    api_key: str = Field(
        min_length=8,
        max_length=500,
        description="An OpenRouter API key; stored encrypted, never shown again",
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not v.strip() or any(c.isspace() for c in v.strip()):
            raise ValueError("an API key has no spaces")
        return v.strip()


class IntegrationPublic(ResponseModel):
    provider: str
    configured: bool
    hint: str | None = Field(default=None, description="The key's last characters")
    updated_at: Timestamp | None = None


def check_grant(*, actor_role: str, target_current: str | None, target_new: str | None) -> None:
    """The role rules for changing someone's membership (``target_new`` None: removing it).

    Admins and owners manage members; nobody grants a role above their own, nor changes or
    removes someone whose role is above their own."""
    actor = ROLE_RANK.get(actor_role, -1)
    if actor < ROLE_RANK[Role.ADMIN]:
        raise PermissionDenied("Only a workspace's owners and admins manage its members")
    if target_new is not None and ROLE_RANK[target_new] > actor:
        raise PermissionDenied(f"A {actor_role} cannot grant the role {target_new!r}")
    if target_current is not None and ROLE_RANK.get(target_current, 0) > actor:
        raise PermissionDenied(f"A {actor_role} cannot change or remove an {target_current}")


def is_uid(value: str) -> bool:
    """Whether ``value`` could be a Firebase Auth uid (1 to 128 characters, no slash)."""
    return 0 < len(value) <= 128 and "/" not in value


def not_a_member(workspace_id: str) -> NotFound:
    # The same answer whether the workspace exists or not: membership is not probeable.
    return NotFound(f"Workspace {workspace_id!r} not found")
