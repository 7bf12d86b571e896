"""PUSH datasets: what an event is, how it is keyed for dedupe, the limit windows, and what
the events and dataset endpoints answer. No I/O.

Dedupe is a document id: an event is stored under the hash of its ``event_id`` (or, without
one, of its normalised input), and stored with create-if-absent, so a duplicate, a concurrent
twin or a redelivered request lands on the same id and cannot be stored twice.

Limits are counted in sharded counters, one set per UTC day and per UTC month. A limit L is
split into fixed per-shard quotas that add up to L exactly (``shard_caps``), and a push takes
quota from one shard at a time in a transaction, so the limit holds exactly however many
instances push at once, while the write load spreads over ``COUNTER_SHARDS`` documents.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, RootModel, field_validator

from shared.domain.base import RequestModel, ResponseModel, Timestamp
from shared.domain.leaderboards import _bounded_json

MAX_EVENTS_PER_REQUEST = 500
# A field of an event is at most this many characters: three such fields (4 bytes a character
# at worst) keep the event's document, and its row in a dataset chunk, under the 768 KiB
# a chunk may hold.
MAX_EVENT_TEXT_CHARS = 60_000
# Fixed, so a limit changed mid-window keeps counting on the same documents (an exact limit
# needs every shard of the window to be known).
COUNTER_SHARDS = 16

DAILY = "daily_event_limit"
MONTHLY = "monthly_event_limit"


class EventIn(RequestModel):
    """One production event. Only ``input`` is required."""

    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "input": "How do I reset my password?",
                    "output": "Open Settings, then Security.",
                    "event_id": "evt_123",
                }
            ]
        }
    }

    input: str = Field(min_length=1, max_length=MAX_EVENT_TEXT_CHARS)
    expected: str | None = Field(default=None, max_length=MAX_EVENT_TEXT_CHARS)
    output: str | None = Field(default=None, max_length=MAX_EVENT_TEXT_CHARS)
    event_id: str | None = Field(default=None, min_length=1, max_length=500)
    metadata: dict[str, Any] | None = None
    timestamp: datetime | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, v: Any) -> Any:
        return _bounded_json(v, "metadata")

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        # A naive time is read as UTC: producers that omit the zone almost always mean it.
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


class EventBatch(RequestModel):
    """The body of a batch push: ``{"events": [...]}``."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class EventsPush(RootModel[EventIn | EventBatch]):
    """The body of a push, as documented: one event, or a batch."""


def normalise_input(text: str) -> str:
    """The form two inputs must share to count as the same event: Unicode NFKC, case folded,
    runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def event_key(event: EventIn, *, dedupe: bool, fallback: str) -> str:
    """The event's document id. With dedupe, the hash of its ``event_id`` or, without one, of
    its normalised input; without dedupe, ``fallback`` (unique per event of a request)."""
    if not dedupe:
        material = "unique\x00" + fallback
    elif event.event_id is not None:
        material = "id\x00" + event.event_id
    else:
        material = "input\x00" + normalise_input(event.input)
    return "ev_" + hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:40]


# --- limit windows ----------------------------------------------------------------------------
def day_window(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def month_window(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def next_day(now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def shard_caps(limit: int, shards: int = COUNTER_SHARDS) -> list[int]:
    """Per-shard quotas that add up to ``limit`` exactly (the first ``limit % shards`` shards
    take one more)."""
    base, extra = divmod(limit, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


# --- responses --------------------------------------------------------------------------------
class EventResult(ResponseModel):
    index: int
    status: str = Field(description="accepted, duplicate or refused")
    id: str
    reason: str | None = None


class IngestResult(ResponseModel):
    accepted: int
    duplicates: int
    refused: int
    refused_reasons: dict[str, int] = Field(
        description="refused events by the limit that refused them"
    )
    results: list[EventResult]


class EventPublic(ResponseModel):
    id: str
    event_id: str | None
    input: str
    expected: str | None
    output: str | None
    metadata: dict[str, Any] | None
    timestamp: Timestamp | None
    received_at: Timestamp
    pending: bool = Field(description="not yet in a dataset version")
    version_id: str | None = None


class LimitUsage(ResponseModel):
    window: str
    count: int
    limit: int
    resets_at: Timestamp


class VersionChanges(ResponseModel):
    added: int
    removed: int
    labelled: int = 0
    dropped_duplicates: int = 0
    dropped_unusable: int = 0


class DatasetVersionPublic(ResponseModel):
    id: str
    number: int
    rows: int
    created_at: Timestamp
    reason: str = Field(description="what made it: events, hours, run, improve")
    previous_id: str | None
    changes: VersionChanges


class DatasetStatus(ResponseModel):
    leaderboard_id: str
    dataset_type: str
    current_version: DatasetVersionPublic | None
    pending_events: int
    today: LimitUsage
    this_month: LimitUsage


class ImproveAccepted(ResponseModel):
    leaderboard_id: str
    status: str
    task: str
