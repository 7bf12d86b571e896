"""The leaderboard schedule (the spec's version-2 JSON) and its rules.

Cron expressions are checked by croniter, a pure parser, rather than by a regex of our own: a
schedule that saves must be one the scheduler can actually run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from shared.domain.base import RequestModel, ResponseModel, RuleViolation, case_insensitive

# A scheduled run costs real model calls: refuse crons that fire more often than this.
MIN_CRON_INTERVAL = timedelta(hours=1)


class Cadence(StrEnum):
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class CronPreset(StrEnum):
    CUSTOM = "CUSTOM"
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


PRESET_EXPRESSIONS: dict[CronPreset, str] = {
    CronPreset.HOURLY: "0 * * * *",
    CronPreset.DAILY: "0 6 * * *",
    CronPreset.WEEKLY: "0 6 * * 1",
    CronPreset.MONTHLY: "0 6 1 * *",
}


class DatasetMode(StrEnum):
    ALL = "ALL"
    LIMIT = "LIMIT"


class LimitAlgorithm(StrEnum):
    LAST_N = "LAST_N"
    FIRST_N = "FIRST_N"
    RANDOM_N = "RANDOM_N"


CadenceField = Annotated[Cadence, case_insensitive(Cadence)]


class ModelVersionTrigger(RequestModel):
    enabled: bool = False
    cadence: CadenceField = Cadence.WEEKLY


class NewDataTrigger(RequestModel):
    enabled: bool = False
    check_cadence: CadenceField = Cadence.DAILY
    every_new_events: int = Field(default=500, ge=1, le=1_000_000)


class CronTrigger(RequestModel):
    enabled: bool = False
    preset: Annotated[CronPreset, case_insensitive(CronPreset)] = CronPreset.CUSTOM
    expression: str | None = Field(default=None, max_length=120)
    # IANA names are short; a long one made ZoneInfo fail with OSError (file name too long).
    timezone: str = Field(default="UTC", min_length=1, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'UTC')") from exc
        return v

    @field_validator("expression")
    @classmethod
    def _valid_cron(cls, v: str | None) -> str | None:
        if v is None:
            return None
        expr = " ".join(v.split())
        if len(expr.split(" ")) != 5 or not croniter.is_valid(expr):
            raise ValueError(
                f"{v!r} is not a valid cron expression (five fields: minute hour day month weekday)"
            )
        return expr

    @model_validator(mode="after")
    def _resolve_preset(self) -> CronTrigger:
        if self.preset != CronPreset.CUSTOM:
            self.expression = PRESET_EXPRESSIONS[self.preset]
        elif self.enabled and not self.expression:
            raise RuleViolation(
                "expression", "expression is required when the cron trigger is enabled with CUSTOM"
            )
        if self.expression and self.enabled:
            gap = _shortest_gap(self.expression)
            if gap < MIN_CRON_INTERVAL:
                raise RuleViolation(
                    "expression",
                    f"cron {self.expression!r} fires every {int(gap.total_seconds() // 60)} min; "
                    f"the minimum interval is {int(MIN_CRON_INTERVAL.total_seconds() // 60)} min",
                )
        return self


class Triggers(RequestModel):
    model_version: ModelVersionTrigger = Field(default_factory=ModelVersionTrigger)
    new_data: NewDataTrigger = Field(default_factory=NewDataTrigger)
    cron: CronTrigger = Field(default_factory=CronTrigger)


class DatasetLimit(RequestModel):
    auto: bool = False
    rows: int | None = Field(default=None, ge=1, le=100_000)
    algorithm: Annotated[LimitAlgorithm, case_insensitive(LimitAlgorithm)] = LimitAlgorithm.LAST_N

    @model_validator(mode="after")
    def _rows_unless_auto(self) -> DatasetLimit:
        if not self.auto and self.rows is None:
            raise RuleViolation("rows", "rows is required unless auto is true")
        return self


class DatasetPolicy(RequestModel):
    mode: Annotated[DatasetMode, case_insensitive(DatasetMode)] = DatasetMode.ALL
    limit: DatasetLimit | None = None

    @model_validator(mode="after")
    def _limit_for_limit_mode(self) -> DatasetPolicy:
        if self.mode == DatasetMode.LIMIT and self.limit is None:
            raise RuleViolation("limit", "limit is required when mode is LIMIT")
        return self


class Schedule(RequestModel):
    version: Literal[2]
    triggers: Triggers = Field(default_factory=Triggers)
    dataset: DatasetPolicy = Field(default_factory=DatasetPolicy)

    @property
    def any_enabled(self) -> bool:
        t = self.triggers
        return t.model_version.enabled or t.new_data.enabled or t.cron.enabled


# --- how a stored schedule is shown -----------------------------------------------------------
# Plain shapes without the request rules: a stored schedule already passed them, and checking
# a cron's interval again on every read costs milliseconds per leaderboard.
class ModelVersionTriggerView(ResponseModel):
    enabled: bool
    cadence: Cadence


class NewDataTriggerView(ResponseModel):
    enabled: bool
    check_cadence: Cadence
    every_new_events: int


class CronTriggerView(ResponseModel):
    enabled: bool
    preset: CronPreset
    expression: str | None
    timezone: str


class TriggersView(ResponseModel):
    model_version: ModelVersionTriggerView
    new_data: NewDataTriggerView
    cron: CronTriggerView


class DatasetLimitView(ResponseModel):
    auto: bool
    rows: int | None
    algorithm: LimitAlgorithm


class DatasetPolicyView(ResponseModel):
    mode: DatasetMode
    limit: DatasetLimitView | None


class ScheduleView(ResponseModel):
    """A leaderboard's schedule as responses show it (the shape of ``Schedule``)."""

    version: Literal[2]
    triggers: TriggersView
    dataset: DatasetPolicyView


# Keys that mark a PATCH body as a whole schedule document (the spec's `-d @schedule.json`).
SCHEDULE_BODY_KEYS = frozenset({"version", "triggers", "dataset"})


def next_cron_time(schedule: Schedule, after: datetime) -> datetime | None:
    """When the cron trigger next fires after ``after`` (an aware datetime), or None."""
    cron = schedule.triggers.cron
    if not cron.enabled or not cron.expression:
        return None
    local = after.astimezone(ZoneInfo(cron.timezone))
    nxt: datetime = croniter(cron.expression, local).get_next(datetime)
    return nxt.astimezone(after.tzinfo)


def _shortest_gap(expression: str) -> timedelta:
    # Sample a year's worth of firings for sparse crons; dense ones show their gap at once.
    it = croniter(expression, datetime(2026, 1, 1))
    prev: datetime = it.get_next(datetime)
    gap = timedelta.max
    for _ in range(48):
        nxt: datetime = it.get_next(datetime)
        gap = min(gap, nxt - prev)
        prev = nxt
    return gap
