"""Plans and what they entitle a workspace to.

The numbers are product decisions, kept in one table so the README, the checks and the error
messages cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.errors import EntitlementRequired


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"


@dataclass(frozen=True)
class Entitlements:
    schedules: bool
    delete_leaderboards: bool
    max_models_per_leaderboard: int


PLANS: dict[str, Entitlements] = {
    # Free: enough to compare a handful of models by hand.
    Plan.FREE: Entitlements(
        schedules=False, delete_leaderboards=False, max_models_per_leaderboard=3
    ),
    Plan.PRO: Entitlements(schedules=True, delete_leaderboards=True, max_models_per_leaderboard=25),
}


def entitlements(plan: str) -> Entitlements:
    return PLANS.get(plan, PLANS[Plan.FREE])


def require_schedules(plan: str) -> None:
    if not entitlements(plan).schedules:
        raise EntitlementRequired("schedules", plan)


def require_delete(plan: str) -> None:
    if not entitlements(plan).delete_leaderboards:
        raise EntitlementRequired("delete_leaderboards", plan)


def require_model_slot(plan: str, current_count: int) -> None:
    limit = entitlements(plan).max_models_per_leaderboard
    if current_count >= limit:
        raise EntitlementRequired(
            "max_models_per_leaderboard",
            plan,
            f"The '{plan}' plan allows at most {limit} candidate models per leaderboard "
            f"(entitlement 'max_models_per_leaderboard'); remove one or upgrade the workspace",
        )
