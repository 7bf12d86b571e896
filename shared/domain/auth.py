"""Who is calling: scopes, the principal a token resolves to, and the scope check."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.errors import PermissionDenied, PodiumError


class Scope(StrEnum):
    LEADERBOARDS_READ = "leaderboards:read"
    LEADERBOARDS_WRITE = "leaderboards:write"
    LEADERBOARDS_RUN = "leaderboards:run"
    DATASETS_PUSH = "datasets:push"
    RESULTS_WRITE = "results:write"
    AGENTS_WRITE = "agents:write"
    REVIEWS_WRITE = "reviews:write"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)

# Platform admins (public categories, badges, verification) are not workspace members: their
# tokens carry this scope alone, belong to no workspace, and no workspace token can hold it
# (``parse_scopes`` refuses it).
ADMIN_SCOPE = "platform:admin"


# Held only by a signed-in person's session (a Firebase ID token), never by an API token
# (``parse_scopes`` refuses it): the routes that manage people, tokens and integrations.
SESSION_SCOPE = "session"


class Role(StrEnum):
    """A person's role in a workspace. Every role uses everything in the workspace (all of
    ``ALL_SCOPES``); roles differ in who may change its settings: admins manage members, tokens
    and integrations, owners also grant the owner and admin roles."""

    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"


ROLE_RANK: dict[str, int] = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def may_manage(role: str) -> bool:
    """Whether ``role`` may change the workspace's members, tokens and integrations."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[Role.ADMIN]


def role_scopes(role: str) -> frozenset[str]:
    return ALL_SCOPES if role in ROLE_RANK else frozenset()


def parse_scopes(raw: str | list[str]) -> frozenset[str]:
    """Parse a comma-separated list (or a list) of scope names; unknown names are refused."""
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = {s.strip() for s in items if s.strip()}
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}; known: {sorted(ALL_SCOPES)}")
    if not scopes:
        raise ValueError("at least one scope is required")
    return frozenset(scopes)


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: bound to exactly one workspace, or a platform admin
    (``is_admin``, no workspace)."""

    workspace_id: str
    plan: str
    scopes: frozenset[str]
    token_id: str
    is_admin: bool = False
    # A signed-in person's session: their Firebase uid and email, and their role in
    # ``workspace_id`` (empty when the request names no workspace they belong to; then
    # ``workspace_problem`` says why, and only session routes may proceed).
    user_id: str | None = None
    email: str | None = None
    role: str | None = None
    workspace_problem: PodiumError | None = None

    @property
    def is_session(self) -> bool:
        return self.user_id is not None

    @property
    def actor(self) -> str:
        """Who did it, for records: a person's uid or a token's id."""
        return f"user:{self.user_id}" if self.user_id else self.token_id

    def require_any(self, scopes: tuple[str, ...]) -> None:
        """At least one of ``scopes`` (a route several kinds of token may call)."""
        if self.workspace_problem is not None:
            raise self.workspace_problem
        if not any(s in self.scopes for s in scopes):
            raise PermissionDenied(
                "Permission " + " or ".join(f"'{s}'" for s in scopes) + " required"
            )

    def require(self, scope: str) -> None:
        if scope == SESSION_SCOPE:
            if not self.is_session:
                raise PermissionDenied(
                    "This endpoint needs a signed-in session (a Firebase ID token as the bearer "
                    "token); an API token cannot use it"
                )
            return
        if self.workspace_problem is not None:
            raise self.workspace_problem
        if scope not in self.scopes:
            raise PermissionDenied(f"Permission '{scope}' required")
