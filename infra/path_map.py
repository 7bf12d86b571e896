"""The path map: which function serves which URL prefix.

Production's load balancer URL map (``terraform/load_balancer.tf``) and the local gateway
(``infra/gateway.py``) are both derived from this table; ``tests/test_terraform.py`` checks that
they agree. Longest prefix wins. Workers and the scheduler are not behind the load balancer:
Cloud Tasks and Cloud Scheduler call their own URLs with OIDC tokens; locally the gateway mounts
them under their prefixes so one port serves everything.
"""

from __future__ import annotations

from typing import Final

# (path prefix, function folder under functions/). The folder name is also the entry point.
PUBLIC_ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("/api/leaderboards", "leaderboards_api"),
    ("/api/models", "leaderboards_api"),
    ("/api/openapi.json", "leaderboards_api"),
    ("/api/workspaces", "leaderboards_api"),
    ("/api/public/leaderboard", "public_api"),
    ("/leaderboard", "public_api"),
)

# Reached only by Cloud Tasks / Cloud Scheduler (never through the load balancer).
INTERNAL_ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("/tasks", "workers"),
    ("/tasks/tick", "scheduler"),
)

DEFAULT_FUNCTION: Final = "leaderboards_api"


def function_for(path: str, *, include_internal: bool = True) -> str | None:
    """The function folder serving ``path``, or None when no prefix matches."""
    table = PUBLIC_ROUTES + (INTERNAL_ROUTES if include_internal else ())
    best: tuple[int, str] | None = None
    for prefix, function in table:
        if (path == prefix or path.startswith(prefix.rstrip("/") + "/")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), function)
    return best[1] if best else None


def functions() -> tuple[str, ...]:
    """Every deployable function folder, in a stable order."""
    seen: dict[str, None] = {}
    for _, fn in PUBLIC_ROUTES + INTERNAL_ROUTES:
        seen.setdefault(fn, None)
    return tuple(seen)
