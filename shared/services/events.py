"""PUSH ingest and the dataset views: push events, list them, the dataset and its versions.

A push stores its events once (dedupe by document id, limits by sharded counters: see
``shared/domain/events.py``), answers 202 with what happened to each, and asks for a
consolidation when enough events wait; it never builds a version itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, LimitReached
from shared.domain.events import (
    DAILY,
    MONTHLY,
    DatasetStatus,
    DatasetVersionPublic,
    EventBatch,
    EventIn,
    EventPublic,
    EventResult,
    IngestResult,
    LimitUsage,
    day_window,
    event_key,
    month_window,
    next_day,
    next_month,
)
from shared.domain.leaderboards import DatasetType
from shared.domain.paging import ListQuery, Page
from shared.repositories.base import Doc
from shared.repositories.events import EventRepository, Windows
from shared.repositories.leaderboards import LeaderboardRepository
from shared.services.consolidation import (
    REASON_EVENTS,
    enqueue_consolidation,
    version_public,
)
from shared.tasks.queue import TaskQueue


def parse_events(body: Any) -> list[EventIn]:
    """One event, or ``{"events": [...]}``; anything else is a 422 and nothing is stored."""
    if not isinstance(body, Mapping):
        raise InvalidInput.field((), 'expected an event object or {"events": [...]}')
    if "events" in body:
        return parse(EventBatch, dict(body)).events
    return [parse(EventIn, dict(body))]


def push_events(
    *,
    leaderboards: LeaderboardRepository,
    events: EventRepository,
    queue: TaskQueue,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
    body: Any,
) -> IngestResult:
    ws = principal.workspace_id
    lb = leaderboards.require(ws, leaderboard_id)
    if lb.get("dataset_type") != DatasetType.PUSH:
        raise Conflict(
            "This leaderboard reads a GET dataset from its file; events can only be pushed "
            "to a PUSH leaderboard"
        )
    items = parse_events(body)
    now = clock()
    request_id = uuid.uuid4().hex
    dedupe = bool(lb.get("dedupe", True))
    keyed: list[tuple[str, Doc]] = []
    for i, event in enumerate(items):
        key = event_key(event, dedupe=dedupe, fallback=f"{request_id}:{i}")
        keyed.append(
            (
                key,
                {
                    "key": key,
                    "event_id": event.event_id,
                    "input": event.input,
                    "expected": event.expected,
                    "output": event.output,
                    "metadata": event.metadata,
                    "timestamp": event.timestamp,
                    "received_at": now,
                    "seq": i,  # arrival order inside the request
                    "pending": True,
                    "version_id": None,
                },
            )
        )
    windows = Windows(
        day=day_window(now),
        month=month_window(now),
        daily_limit=int(lb["daily_event_limit"]),
        monthly_limit=int(lb["monthly_event_limit"]),
    )
    outcome = events.store(ws, leaderboard_id, keyed, windows)
    if not outcome.stored and outcome.refused:
        limit = MONTHLY if MONTHLY in outcome.refused.values() else DAILY
        resets = next_month(now) if limit == MONTHLY else next_day(now)
        value = windows.monthly_limit if limit == MONTHLY else windows.daily_limit
        window = "this UTC month" if limit == MONTHLY else "today (UTC)"
        raise LimitReached(
            f"{limit} reached: {value} events {window}; nothing from this request was stored. "
            f"It resets at {resets.isoformat().replace('+00:00', 'Z')}",
            limit=limit,
            retry_after=(resets - now).total_seconds(),
        )
    if outcome.stored:
        _maybe_consolidate(lb, events, queue, ws, leaderboard_id)
    stored, dupes = set(outcome.stored), outcome.duplicates
    dupe_count: dict[str, int] = {}
    for k in dupes:
        dupe_count[k] = dupe_count.get(k, 0) + 1
    results: list[EventResult] = []
    for i, (key, _) in enumerate(keyed):
        if key in outcome.refused:
            results.append(
                EventResult(index=i, status="refused", id=key, reason=outcome.refused[key])
            )
        elif key in stored:
            stored.discard(key)  # a twin later in the request is its duplicate
            results.append(EventResult(index=i, status="accepted", id=key))
        else:
            results.append(EventResult(index=i, status="duplicate", id=key))
    reasons: dict[str, int] = {}
    for why in outcome.refused.values():
        reasons[why] = reasons.get(why, 0) + 1
    return IngestResult(
        accepted=len(outcome.stored),
        duplicates=len(outcome.duplicates),
        refused=len(outcome.refused),
        refused_reasons=reasons,
        results=results,
    )


def _maybe_consolidate(
    lb: Doc, events: EventRepository, queue: TaskQueue, ws: str, lb_id: str
) -> None:
    """Enough events wait: ask for a version. Named by the version it will follow, so the
    pushes that cross the count together ask once."""
    every = int(lb.get("consolidate_every_events") or 500)
    if events.pending_count(ws, lb_id, at_most=every) >= every:
        state = lb.get("dataset_state") or {}
        enqueue_consolidation(
            queue, ws, lb_id, reason=REASON_EVENTS, generation=str(state.get("current"))
        )


def list_events(
    *,
    leaderboards: LeaderboardRepository,
    events: EventRepository,
    principal: Principal,
    leaderboard_id: str,
    query: ListQuery,
) -> Page[EventPublic]:
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    docs, total = events.page(ws, leaderboard_id, limit=query.limit, offset=query.offset)
    return Page(
        items=[EventPublic.model_validate({**d, "id": d["key"]}) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def dataset_status(
    *,
    leaderboards: LeaderboardRepository,
    events: EventRepository,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
) -> DatasetStatus:
    ws = principal.workspace_id
    lb = leaderboards.require(ws, leaderboard_id)
    now = clock()
    current_id = (lb.get("dataset_state") or {}).get("current")
    current = events.get_version(ws, leaderboard_id, current_id) if current_id else None
    day, month = day_window(now), month_window(now)
    today, this_month = events.usage(ws, leaderboard_id, day, month)
    return DatasetStatus(
        leaderboard_id=leaderboard_id,
        dataset_type=lb["dataset_type"],
        current_version=version_public(current) if current else None,
        pending_events=events.pending_count(ws, leaderboard_id),
        today=LimitUsage(
            window=day,
            count=today,
            limit=int(lb["daily_event_limit"]),
            resets_at=next_day(now),
        ),
        this_month=LimitUsage(
            window=month,
            count=this_month,
            limit=int(lb["monthly_event_limit"]),
            resets_at=next_month(now),
        ),
    )


def list_versions(
    *,
    leaderboards: LeaderboardRepository,
    events: EventRepository,
    principal: Principal,
    leaderboard_id: str,
    query: ListQuery,
) -> Page[DatasetVersionPublic]:
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    docs, total = events.versions(ws, leaderboard_id, limit=query.limit, offset=query.offset)
    return Page(
        items=[version_public(d) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )
