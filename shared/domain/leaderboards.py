"""Leaderboards: what a request may say, the rules across fields, and what a response shows.

One ``LeaderboardConfig`` holds every rule. Create validates the body with it; PATCH validates
the body with ``LeaderboardUpdate`` (exactly the spec's updatable fields), merges it onto the
stored config and validates the merge with ``LeaderboardConfig`` again, so a PATCH can never
produce a leaderboard that create would have refused.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.domain.base import (
    RequestModel,
    ResponseModel,
    RuleViolation,
    Timestamp,
    case_insensitive,
)
from shared.domain.patterns import compile_pattern
from shared.domain.schedule import Schedule, ScheduleView
from shared.domain.storable import DocumentId, check_storable

INPUT_PLACEHOLDER = "{input}"
MAX_PROMPT_CHARS = 50_000
MAX_METADATA_BYTES = 16_384


class DatasetType(StrEnum):
    GET = "GET"
    PUSH = "PUSH"


class EvalType(StrEnum):
    EXACT = "exact"
    JUDGE = "judge"
    HUMAN = "human"


class LeaderboardStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class ChosenModelStrategy(StrEnum):
    MANUAL = "manual"
    RANKING_WINNER = "ranking_winner"


class JudgeProvider(StrEnum):
    OPENROUTER = "OpenRouter"


class EvalMetadata(RequestModel):
    """Scoring options. Unknown keys are refused: a typo here would silently change scores."""

    case_sensitive: bool = False
    # allow_inf_nan: JSON's 1e999 parses as infinity, which would accept every number.
    numeric_tolerance: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    extract_regex: str | None = Field(default=None, max_length=500)
    strip_punctuation: bool = False
    rubric: str | None = Field(default=None, max_length=10_000)
    # ranking_winner's practical margin (0-1 scale) and minimum fresh pairs; see promotion.py.
    promotion_margin: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    promotion_min_paired_n: int | None = Field(default=None, ge=2, le=1_000_000)
    # Human review (eval_type human, and judge audits): people per item.
    reviews_per_item: int | None = Field(default=None, ge=1, le=10)
    # Judged leaderboards: "score" (each answer scored alone) or "pairwise" (each candidate
    # against the baseline, both orders); see shared/domain/pairwise.py.
    judge_mode: Literal["score", "pairwise"] | None = None
    baseline_model_id: str | None = Field(default=None, min_length=1, max_length=100)
    # Judged leaderboards: the share of judged answers also sent to people, blind.
    human_audit_rate: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    @field_validator("extract_regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        # Checked by the engine that will run it (RE2), so a saved pattern always runs.
        if v is not None:
            compile_pattern(v)
        return v


class DatasetMetadata(RequestModel):
    """Where a row's input and expected answer live; other keys are kept as the user's notes."""

    model_config = RequestModel.model_config | {"extra": "allow"}

    input_field: str | None = Field(default=None, min_length=1, max_length=200)
    expected_field: str | None = Field(default=None, min_length=1, max_length=200)


def _bounded_json(v: Any, what: str) -> Any:
    if v is None:
        return v
    # Free-form JSON is stored as given: it must be something the store can hold (the request
    # body was checked too; this keeps the rule true for any other caller).
    check_storable(v, what)
    if len(json.dumps(v, default=str)) > MAX_METADATA_BYTES:
        raise ValueError(f"{what} is larger than {MAX_METADATA_BYTES} bytes")
    return v


Name = Annotated[str, Field(min_length=1, max_length=200)]
Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]


class PushSettings(RequestModel):
    """How a PUSH (webhook) dataset gathers events. Bounds keep one workspace's firehose from
    becoming everyone's bill."""

    auto_limit_size: bool = True
    max_samples_to_gather: int = Field(default=1000, ge=1, le=100_000)
    daily_event_limit: int = Field(default=5000, ge=1, le=1_000_000)
    monthly_event_limit: int = Field(default=50_000, ge=1, le=10_000_000)
    consolidate_every_events: int = Field(default=500, ge=1, le=100_000)
    consolidate_every_hours: int = Field(default=24, ge=1, le=720)
    dedupe: bool = True

    @model_validator(mode="after")
    def _monthly_covers_daily(self) -> PushSettings:
        if self.monthly_event_limit < self.daily_event_limit:
            raise RuleViolation(
                "monthly_event_limit", "monthly_event_limit must be at least daily_event_limit"
            )
        return self


# The cross-field rules of LeaderboardConfig that JSON Schema can state, so the OpenAPI document
# (and clients generated from it) know them: a prompt with {input}; dataset_url exactly for GET
# datasets; the judge's provider and model together.
_CONFIG_RULES: dict[str, Any] = {
    "anyOf": [
        {
            "required": ["system_prompt"],
            "properties": {"system_prompt": {"pattern": "\\{input\\}"}},
        },
        {"required": ["model_prompt"], "properties": {"model_prompt": {"pattern": "\\{input\\}"}}},
    ],
    "if": {"required": ["dataset_type"], "properties": {"dataset_type": {"const": "PUSH"}}},
    "then": {"not": {"required": ["dataset_url"]}},
    "else": {"required": ["dataset_url"]},
    "dependentRequired": {"judge_provider": ["judge_model"], "judge_model": ["judge_provider"]},
    "examples": [
        {
            "name": "Production Support Feedback",
            "system_prompt": "Answer the user request.\n\nInput:\n{input}",
            "dataset_type": "PUSH",
            "eval_type": "judge",
        }
    ],
}


class LeaderboardConfig(PushSettings):
    """Everything a leaderboard is configured with; the body of POST /api/leaderboards."""

    model_config = PushSettings.model_config | {"json_schema_extra": _CONFIG_RULES}

    name: Name
    description: str | None = Field(default=None, max_length=5000)
    status: Annotated[LeaderboardStatus, case_insensitive(LeaderboardStatus)] = (
        LeaderboardStatus.ACTIVE
    )
    system_prompt: Prompt | None = None
    model_prompt: Prompt | None = None
    dataset_type: Annotated[DatasetType, case_insensitive(DatasetType)] = DatasetType.GET
    dataset_url: str | None = Field(default=None, max_length=2048)
    dataset_metadata: DatasetMetadata | None = None
    dataset_auto_labels: bool = False
    eval_type: Annotated[EvalType, case_insensitive(EvalType)] = EvalType.JUDGE
    eval_metadata: EvalMetadata | None = None
    judge_provider: Annotated[JudgeProvider, case_insensitive(JudgeProvider)] | None = None
    judge_model: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    constraints: dict[str, Any] | None = None
    chosen_leaderboard_model_id: DocumentId | None = None
    chosen_model_strategy: Annotated[ChosenModelStrategy, case_insensitive(ChosenModelStrategy)] = (
        ChosenModelStrategy.MANUAL
    )
    schedule: Schedule | None = None

    @field_validator("constraints")
    @classmethod
    def _constraints_size(cls, v: Any) -> Any:
        return _bounded_json(v, "constraints")

    @field_validator("dataset_metadata")
    @classmethod
    def _metadata_size(cls, v: DatasetMetadata | None) -> DatasetMetadata | None:
        if v is not None:
            _bounded_json(v.model_dump(), "dataset_metadata")
        return v

    @field_validator("dataset_url")
    @classmethod
    def _hf_url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        from shared.domain.datasets import normalize_hf_jsonl_url

        ctx = info.context or {}
        return normalize_hf_jsonl_url(v, ctx.get("hf_endpoint", "https://huggingface.co"))

    @model_validator(mode="after")
    def _cross_field_rules(self) -> LeaderboardConfig:
        if self.system_prompt is None and self.model_prompt is None:
            raise RuleViolation("system_prompt", "system_prompt or model_prompt is required")
        if not any(INPUT_PLACEHOLDER in (p or "") for p in (self.system_prompt, self.model_prompt)):
            raise RuleViolation(
                "system_prompt",
                "the task prompt must contain the {input} placeholder "
                "(in system_prompt or model_prompt)",
            )
        if self.dataset_type == DatasetType.GET and not self.dataset_url:
            raise RuleViolation("dataset_url", "dataset_url is required when dataset_type is GET")
        if self.dataset_type == DatasetType.PUSH and self.dataset_url:
            raise RuleViolation(
                "dataset_url", "dataset_url is only for GET datasets; PUSH datasets receive events"
            )
        meta = self.eval_metadata
        if meta is not None and self.eval_type != EvalType.JUDGE:
            for name in ("judge_mode", "baseline_model_id", "human_audit_rate"):
                if getattr(meta, name) is not None:
                    raise RuleViolation("eval_metadata", f"{name} is for judged leaderboards only")
        if (self.judge_provider is None) != (self.judge_model is None):
            raise RuleViolation(
                "judge_model" if self.judge_model is None else "judge_provider",
                "judge_provider and judge_model go together: give both to configure the judge "
                "by hand, or neither to let Podium choose it",
            )
        return self

    @property
    def judge_auto(self) -> bool:
        return self.judge_provider is None and self.judge_model is None


# The spec's updatable fields, and only those: anything else in a PATCH is a 422.
UPDATABLE_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "status",
    "dataset_type",
    "dataset_url",
    "dataset_metadata",
    "dataset_auto_labels",
    "eval_type",
    "eval_metadata",
    "judge_provider",
    "judge_model",
    "category",
    "constraints",
    "model_prompt",
    "system_prompt",
    "chosen_leaderboard_model_id",
    "chosen_model_strategy",
    "schedule",
)


class LeaderboardUpdate(RequestModel):
    """Body of PATCH /api/leaderboards/{id}: the fields to change, typed as on create (so the
    OpenAPI document says what each takes). Cross-field rules are checked on the merged config;
    ``null`` clears an optional field."""

    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "minProperties": 1,
            "examples": [{"description": "Production support leaderboard"}],
        }
    }

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    status: Annotated[LeaderboardStatus, case_insensitive(LeaderboardStatus)] | None = None
    dataset_type: Annotated[DatasetType, case_insensitive(DatasetType)] | None = None
    dataset_url: str | None = Field(default=None, max_length=2048)
    dataset_metadata: DatasetMetadata | None = None
    dataset_auto_labels: bool | None = None
    eval_type: Annotated[EvalType, case_insensitive(EvalType)] | None = None
    eval_metadata: EvalMetadata | None = None
    judge_provider: Annotated[JudgeProvider, case_insensitive(JudgeProvider)] | None = None
    judge_model: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    constraints: dict[str, Any] | None = None
    model_prompt: Prompt | None = None
    system_prompt: Prompt | None = None
    chosen_leaderboard_model_id: DocumentId | None = None
    chosen_model_strategy: (
        Annotated[ChosenModelStrategy, case_insensitive(ChosenModelStrategy)] | None
    ) = None
    schedule: Schedule | None = None


assert set(LeaderboardUpdate.model_fields) == set(UPDATABLE_FIELDS)


class JudgeConfig(ResponseModel):
    provider: str | None
    model: str | None
    auto: bool


class DatasetView(ResponseModel):
    type: DatasetType
    url: str | None
    metadata: dict[str, Any] | None
    auto_labels: bool
    push: PushSettings | None


class EvaluationView(ResponseModel):
    type: EvalType
    metadata: dict[str, Any] | None
    judge: JudgeConfig | None


class Challenge(ResponseModel):
    """The task as a model sees it: prompt, data and how answers are judged."""

    name: str
    description: str | None
    system_prompt: str | None
    model_prompt: str | None
    dataset: DatasetView
    evaluation: EvaluationView
    constraints: dict[str, Any] | None
    category: str | None


class ModelSuggestion(ResponseModel):
    """A newer sibling of a candidate in OpenRouter's catalog (same author and family, added
    later), found by the model_version trigger's checks; never added by itself."""

    leaderboard_model_id: str
    model_url: str
    name: str
    created: int
    reason: str


class LeaderboardPublic(ResponseModel):
    id: str
    name: str
    description: str | None
    status: LeaderboardStatus
    system_prompt: str | None
    model_prompt: str | None
    dataset_type: DatasetType
    dataset_url: str | None
    dataset_metadata: dict[str, Any] | None
    dataset_auto_labels: bool
    eval_type: EvalType
    eval_metadata: dict[str, Any] | None
    judge_provider: str | None
    judge_model: str | None
    judge_auto_decide: bool
    category: str | None
    constraints: dict[str, Any] | None
    chosen_leaderboard_model_id: str | None
    chosen_model_strategy: ChosenModelStrategy
    schedule: ScheduleView | None
    next_scheduled_at: Timestamp | None = None
    # PUSH dataset settings (stored for every leaderboard; they apply once dataset_type is PUSH).
    auto_limit_size: bool
    max_samples_to_gather: int
    daily_event_limit: int
    monthly_event_limit: int
    consolidate_every_events: int
    consolidate_every_hours: int
    dedupe: bool
    model_count: int
    model_suggestions: list[ModelSuggestion] = Field(default_factory=list)
    created_at: Timestamp
    updated_at: Timestamp
