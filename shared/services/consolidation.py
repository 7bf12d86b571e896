"""Consolidation: pending PUSH events become an immutable, numbered dataset version.

A version holds every row of the previous one plus the pending events, in arrival order, cut
to ``max_samples_to_gather`` (the most recent with ``auto_limit_size``, else the first ones:
gathering stops when full). Its chunks are the shape GET runs pin, so runs read a PUSH version
like any other.

Runs as a task (``/tasks/consolidate``), never inside a push, and may run twice at once:

1. the version's id is a hash of the previous version and the events it takes in, and its
   chunks (and the keys it consumed) are written before it is visible;
2. one transaction creates its document and moves ``dataset_state.current`` from the previous
   version to it, so of two concurrent consolidations one wins and the other changes nothing;
3. the consumed events are then marked (no longer pending). ``dataset_state.marking`` says a
   version's marking may be unfinished; the next consolidation finishes it first, so a crash
   between 2 and 3 cannot put an event into two versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.clock import Clock
from shared.domain.events import DatasetVersionPublic, VersionChanges
from shared.domain.leaderboards import DatasetType
from shared.domain.runs import chunk_starts, plan_chunks
from shared.providers.errors import DatasetError
from shared.providers.hf_datasets import DatasetFile, Sample
from shared.repositories.base import Doc
from shared.repositories.events import EventRepository
from shared.repositories.leaderboards import LeaderboardRepository
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue, task_name

log = logging.getLogger("podium.consolidation")

# Why a version was made (DatasetVersionPublic.reason).
REASON_EVENTS, REASON_HOURS, REASON_RUN, REASON_IMPROVE = "events", "hours", "run", "improve"

# Rows -> rows, and what changed: improve-dataset's cleaning and labelling.
Transform = Callable[[list[Doc]], tuple[list[Doc], dict[str, int]]]


@dataclass(frozen=True)
class Consolidated:
    """What a consolidation left current: the version (None: there are no events at all)."""

    version: Doc | None
    created: bool
    rows: list[Doc] = field(default_factory=list)


def enqueue_consolidation(
    queue: TaskQueue, ws: str, lb_id: str, *, reason: str, generation: str
) -> bool:
    """Ask for a consolidation; the same (reason, generation) is one task however often it
    is asked for (a burst of pushes past the count, a tick delivered twice)."""
    return queue.enqueue(
        queue=QUEUE_CONTROL,
        name=task_name("consolidate", ws, lb_id, reason, generation),
        path="/tasks/consolidate",
        payload={"workspace_id": ws, "leaderboard_id": lb_id, "reason": reason},
    )


def consolidate(
    *,
    events: EventRepository,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    chunk_size: int,
    ws: str,
    lb_id: str,
    reason: str,
    transform: Transform | None = None,
    request_id: str | None = None,
) -> Consolidated:
    """Make a version of what is pending (or, with ``transform``, of the current rows changed
    by it, pending or not). Without anything to add, the current version stays. A version made
    for ``request_id`` is made once: a second delivery finds it current and stops."""
    for _ in range(5):  # another consolidation won the race: build on what it made
        lb = leaderboards.require(ws, lb_id)
        state = lb.get("dataset_state") or {}
        if request_id is not None and state.get("request") == request_id:
            done = events.get_version(ws, lb_id, state["current"])
            return Consolidated(done, False, list(events.version_rows(ws, lb_id, state["current"])))
        if state.get("marking"):
            _finish_marking(events, ws, lb_id, state["marking"])
        current_id = state.get("current")
        previous_rows = list(events.version_rows(ws, lb_id, current_id)) if current_id else []
        pending = events.pending(ws, lb_id)
        known = {r["event_key"] for r in previous_rows if r.get("event_key")}
        fresh = [e for e in pending if e["key"] not in known]
        current = events.get_version(ws, lb_id, current_id) if current_id else None
        if not fresh and transform is None:
            return Consolidated(current, False, previous_rows)
        merged = previous_rows + [_row(e) for e in fresh]
        changes: dict[str, int] = {}
        if transform is not None:
            merged, changes = transform(merged)
        kept = _cap(merged, lb)
        kept_ids = {_identity(r) for r in kept}
        previous_ids = {_identity(r) for r in previous_rows}
        rows = [{**r, "index": i} for i, r in enumerate(kept)]
        consumed = [e["key"] for e in pending]
        version_id = _version_id(current_id, consumed, rows, request_id or "")
        chunks = plan_chunks(rows, max_rows=chunk_size)
        now = clock()
        number = int(state.get("count") or 0) + 1
        meta: Doc = {
            "id": version_id,
            "kind": "push" if lb.get("dataset_type") == DatasetType.PUSH else "improved",
            "number": number,
            "url": lb.get("dataset_url"),
            "revision": None,
            "content_sha256": _content_hash(rows),
            "rows": len(rows),
            "rows_used": len(rows),
            "bad_rows": 0,
            "bad_row_examples": [],
            "truncated": False,
            "chunk_size": chunk_size,
            "chunk_starts": chunk_starts(chunks),
            "created_at": now,
            "reason": reason,
            "previous_id": current_id,
            "changes": {
                "added": len(kept_ids - previous_ids),
                "removed": len(previous_ids - kept_ids),
                **changes,
            },
        }
        events.write_chunks(ws, lb_id, version_id, chunks, consumed)
        hours = int(lb.get("consolidate_every_hours") or 24)
        new_state = {
            "current": version_id,
            "count": number,
            "consolidated_at": now,
            "marking": version_id,
            "request": request_id,
            # A GET leaderboard's improved version stands for this file only.
            "url": lb.get("dataset_url"),
        }
        lb_fields: Doc = {"dataset_state": new_state}
        if lb.get("dataset_type") == DatasetType.PUSH:  # the hours count from this version
            lb_fields["push_due_at"] = now + timedelta(hours=hours)
        if events.commit_version(
            ws, lb_id, expected_current=current_id, meta=meta, lb_fields=lb_fields
        ):
            _finish_marking(events, ws, lb_id, version_id, consumed)
            log.info("dataset version %s of %s: %d rows (%s)", version_id, lb_id, len(rows), reason)
            return Consolidated(events.get_version(ws, lb_id, version_id), True, rows)
    raise RuntimeError("dataset versions kept changing during consolidation")


def push_dataset_file(
    *,
    events: EventRepository,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    chunk_size: int,
    ws: str,
    lb_id: str,
) -> DatasetFile:
    """The rows a run on a PUSH leaderboard evaluates: every event pushed before it, as the
    version consolidated now (``revision`` names that version)."""
    result = consolidate(
        events=events,
        leaderboards=leaderboards,
        clock=clock,
        chunk_size=chunk_size,
        ws=ws,
        lb_id=lb_id,
        reason=REASON_RUN,
    )
    if result.version is None or not result.rows:
        raise DatasetError("the PUSH leaderboard has no events yet", transient=False)
    samples = [
        Sample(index=i, input=r["input"], expected=r.get("expected"), line=i + 1)
        for i, r in enumerate(result.rows)
    ]
    return DatasetFile(
        samples=samples,
        revision=result.version["id"],
        content_sha256=str(result.version["content_sha256"]),
        etag=None,
        bad_rows=0,
        bad_row_examples=[],
        truncated=False,
        bytes_read=0,
    )


def version_public(doc: Doc) -> DatasetVersionPublic:
    return DatasetVersionPublic(
        id=doc["id"],
        number=int(doc.get("number") or 0),
        rows=int(doc.get("rows") or 0),
        created_at=doc["created_at"],
        reason=str(doc.get("reason") or ""),
        previous_id=doc.get("previous_id"),
        changes=VersionChanges.model_validate(doc.get("changes") or {"added": 0, "removed": 0}),
    )


def due_by_hours(lb: Doc, now: datetime) -> bool:
    due = lb.get("push_due_at")
    return isinstance(due, datetime) and due <= now


def _finish_marking(
    events: EventRepository, ws: str, lb_id: str, version_id: str, keys: Sequence[str] | None = None
) -> None:
    events.mark_consumed(
        ws,
        lb_id,
        version_id,
        keys if keys is not None else events.consumed_keys(ws, lb_id, version_id),
    )
    events.finish_marking(ws, lb_id, version_id)


def _row(event: Doc) -> Doc:
    """An event as a dataset row: the fields a run reads, and where it came from."""
    return {
        "input": event["input"],
        "expected": event.get("expected"),
        "event_key": event["key"],
        "event_id": event.get("event_id"),
        "output": event.get("output"),
    }


def _identity(row: Doc) -> str:
    """What makes a row the same row across versions: its event, or (file rows) its input."""
    return str(row.get("event_key") or "input:" + str(row.get("input")))


def _cap(rows: list[Doc], lb: Doc) -> list[Doc]:
    cap = int(lb.get("max_samples_to_gather") or 1000)
    if len(rows) <= cap:
        return rows
    return rows[-cap:] if lb.get("auto_limit_size", True) else rows[:cap]


def _content_hash(rows: list[Doc]) -> str:
    material = [[r["input"], r.get("expected")] for r in rows]
    return hashlib.sha256(
        json.dumps(material, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ).hexdigest()


def _version_id(previous: str | None, consumed: list[str], rows: list[Doc], salt: str) -> str:
    material: Any = [previous, sorted(consumed), _content_hash(rows), salt]
    return "dsv_" + hashlib.sha256(json.dumps(material).encode()).hexdigest()[:24]
