"""Who is calling: scopes, the principal a token resolves to, and the scope check."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.errors import PermissionDenied


class Scope(StrEnum):
    LEADERBOARDS_READ = "leaderboards:read"
    LEADERBOARDS_WRITE = "leaderboards:write"
    LEADERBOARDS_RUN = "leaderboards:run"
    DATASETS_PUSH = "datasets:push"
    RESULTS_WRITE = "results:write"
    AGENTS_WRITE = "agents:write"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)

# Platform admins (public categories, badges, verification) are not workspace members: their
# tokens carry this scope alone, belong to no workspace, and no workspace token can hold it
# (``parse_scopes`` refuses it).
ADMIN_SCOPE = "platform:admin"


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

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(f"Permission '{scope}' required")
