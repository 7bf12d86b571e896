"""Leaderboard use cases: create, read, list, update, delete."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.candidates import CandidatePublic
from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput
from shared.domain.leaderboards import (
    DatasetType,
    LeaderboardConfig,
    LeaderboardPublic,
    LeaderboardUpdate,
)
from shared.domain.paging import ListQuery, Page
from shared.domain.plans import require_delete, require_schedules
from shared.domain.schedule import SCHEDULE_BODY_KEYS, Schedule, next_cron_time
from shared.domain.views import (
    LeaderboardDetail,
    candidate_public,
    leaderboard_detail,
    leaderboard_public,
)
from shared.repositories.base import Doc, DuplicateId
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.reviews import ReviewRepository
from shared.repositories.runs import RunRepository
from shared.services.ids import check_replay, fingerprint, resource_id
from shared.services.reviews import agreement
from shared.services.runs import recent_runs


def create_leaderboard(
    *,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    principal: Principal,
    body: Mapping[str, Any],
    context: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[LeaderboardPublic, bool]:
    """Returns the leaderboard and whether it was created now (False: an idempotent replay)."""
    config = parse(LeaderboardConfig, body, context=context)
    if config.chosen_leaderboard_model_id is not None:
        raise InvalidInput.field(
            "chosen_leaderboard_model_id", "a new leaderboard has no models yet; set it later"
        )
    if config.schedule is not None:
        require_schedules(principal.plan)
    ws = principal.workspace_id
    lb_id = resource_id("lb", ws, idempotency_key)
    now = clock()
    record: Doc = {
        **config.model_dump(mode="json"),
        "id": lb_id,
        "workspace_id": ws,
        "model_count": 0,
        "created_at": now,
        "updated_at": now,
        "next_scheduled_at": _next_due(config.schedule, clock),
        **_push_timers({}, config, now),
        "request_fingerprint": fingerprint(body),
    }
    try:
        leaderboards.create(ws, lb_id, record)
    except DuplicateId:
        stored = leaderboards.require(ws, lb_id)
        check_replay(stored, record["request_fingerprint"])
        return leaderboard_public(stored), False
    return leaderboard_public(record), True


def list_leaderboards(
    *, leaderboards: LeaderboardRepository, principal: Principal, query: ListQuery
) -> Page[LeaderboardPublic]:
    docs, total = leaderboards.page(principal.workspace_id, limit=query.limit, offset=query.offset)
    return Page(
        items=[leaderboard_public(d) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def get_leaderboard(
    *,
    leaderboards: LeaderboardRepository,
    runs: RunRepository,
    principal: Principal,
    leaderboard_id: str,
    reviews: ReviewRepository | None = None,
) -> LeaderboardDetail:
    ws = principal.workspace_id
    doc = leaderboards.require(ws, leaderboard_id)
    models: list[CandidatePublic] = [
        candidate_public(c) for c in leaderboards.candidates(ws, leaderboard_id)
    ]
    detail = leaderboard_detail(
        doc, models=models, recent_runs=recent_runs(runs, ws, leaderboard_id)
    )
    if reviews is not None and (doc.get("eval_metadata") or {}).get("human_audit_rate"):
        detail.judge_agreement = agreement(reviews, ws, leaderboard_id)
    return detail


def update_leaderboard(
    *,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
    body: Mapping[str, Any],
    context: dict[str, Any],
) -> LeaderboardPublic:
    patch = _patch_fields(body)
    if patch.get("schedule") is not None:
        require_schedules(principal.plan)
    ws = principal.workspace_id

    def mutate(current: Doc) -> Doc:
        merged = {k: current.get(k) for k in LeaderboardConfig.model_fields} | patch
        # Switching to PUSH drops the GET file URL rather than refusing the switch.
        if str(patch.get("dataset_type") or "").upper() == DatasetType.PUSH and (
            "dataset_url" not in patch
        ):
            merged["dataset_url"] = None
        config = parse(LeaderboardConfig, merged, context=context)
        chosen = config.chosen_leaderboard_model_id
        if (
            "chosen_leaderboard_model_id" in patch
            and chosen is not None
            and leaderboards.get_candidate(ws, leaderboard_id, chosen) is None
        ):
            raise InvalidInput.field(
                "chosen_leaderboard_model_id",
                f"{chosen!r} is not a candidate model of this leaderboard",
            )
        now = clock()
        return {
            **current,
            **config.model_dump(mode="json"),
            "updated_at": now,
            "next_scheduled_at": _next_due(config.schedule, clock),
            **_push_timers(current, config, now),
        }

    return leaderboard_public(leaderboards.update(ws, leaderboard_id, mutate))


def delete_leaderboard(
    *, leaderboards: LeaderboardRepository, principal: Principal, leaderboard_id: str
) -> None:
    # The plan is checked after the existence check, inside the transaction, so a free
    # workspace probing someone else's id still gets the same 404 as anyone.
    leaderboards.delete(
        principal.workspace_id, leaderboard_id, check=lambda _doc: require_delete(principal.plan)
    )


def _patch_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a PATCH sets. A body that is itself a schedule document (the spec's
    ``-d @schedule.json``) sets ``schedule``."""
    if not isinstance(body, Mapping):
        raise InvalidInput.field((), "expected a JSON object")
    if SCHEDULE_BODY_KEYS & body.keys():
        others = sorted(body.keys() - SCHEDULE_BODY_KEYS)
        if others:
            raise InvalidInput.field(
                others[0],
                "a schedule document sent as the whole body cannot be mixed with other fields; "
                'send {"schedule": {...}, ...} instead',
            )
        body = {"schedule": dict(body)}
    if not body:
        raise InvalidInput.field((), "nothing to update: send at least one updatable field")
    update = parse(LeaderboardUpdate, dict(body))
    return update.model_dump(mode="json", exclude_unset=True)


def _push_timers(current: Doc, config: LeaderboardConfig, now: datetime) -> Doc:
    """When the scheduler tick next looks at this leaderboard's data: ``push_due_at`` for
    consolidation by hours (PUSH only; restarted when the hours change), ``data_check_at`` for
    the new_data trigger (at the first tick after it is enabled or changed, then once per
    check_cadence: shared/services/scheduling.py), ``version_check_at`` for model_version."""
    push_due = None
    if config.dataset_type == DatasetType.PUSH:
        same_hours = current.get("consolidate_every_hours") == config.consolidate_every_hours
        push_due = current.get("push_due_at") if same_hours else None
        push_due = push_due or now + timedelta(hours=config.consolidate_every_hours)
    trigger = config.schedule.triggers.new_data if config.schedule else None
    check_at = None
    if trigger is not None and trigger.enabled:
        old = ((current.get("schedule") or {}).get("triggers") or {}).get("new_data")
        unchanged = old == trigger.model_dump(mode="json")
        check_at = (current.get("data_check_at") if unchanged else None) or now
    return {
        "push_due_at": push_due,
        "data_check_at": check_at,
        "version_check_at": _version_check_at(current, config, now),
    }


def _version_check_at(current: Doc, config: LeaderboardConfig, now: datetime) -> datetime | None:
    """The model_version trigger's next check: the first tick after it is enabled or changed,
    then once per cadence (shared/services/scheduling.py)."""
    trigger = config.schedule.triggers.model_version if config.schedule else None
    if trigger is None or not trigger.enabled:
        return None
    old = ((current.get("schedule") or {}).get("triggers") or {}).get("model_version")
    unchanged = old == trigger.model_dump(mode="json")
    return (current.get("version_check_at") if unchanged else None) or now


def _next_due(schedule: Schedule | None, clock: Clock) -> Any:
    return next_cron_time(schedule, clock()) if schedule is not None else None
