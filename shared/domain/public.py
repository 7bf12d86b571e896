"""The public leaderboard's request and response models (``../shared/spec/public-leaderboard-
api.md``): benchmark categories, agent profiles, published results, boards and history.

Ids of categories, agents and results are integers, as in the spec. Scores (``score``,
``score_std``, ``ci_low``, ``ci_high``) are percentages of the best possible score, 0 to 100,
everywhere in this API; ``success_rate`` is a fraction, 0 to 1, as in the spec. A private run
reports fractions; publishing multiplies by 100 once (``as_percent``).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from shared.domain.base import RequestModel, ResponseModel, Timestamp, case_insensitive

MAX_ID = 2**63 - 1
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Categories are few and listed whole from one catalog document.
MAX_CATEGORIES = 500

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=5000)]
PublicId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _http_url(v: str) -> str:
    """Only http(s) links: a profile's links are rendered on the public page, where a
    ``javascript:`` URL would run in a reader's browser."""
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", v, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return v


Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:64].strip("-")
    return slug or "agent"


def as_percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 4)


# --- categories ---------------------------------------------------------------------------
class CategoryCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "slug": "new-category",
                    "name": "New Category",
                    "description": "Description of the category",
                    "scoring_criteria": "How results are scored",
                    "benchmark_suite": "suite-name",
                    "display_order": 10,
                }
            ]
        }
    }
    slug: Slug
    name: Name
    description: LongText = ""
    scoring_criteria: LongText = ""
    benchmark_suite: ShortText | None = None
    # The pinned benchmark dataset: only runs on exactly this content can be published here.
    benchmark_dataset_url: Url | None = None
    benchmark_dataset_sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] | None = (
        None
    )
    display_order: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    is_active: bool = True


class CategoryUpdate(RequestModel):
    name: Name | None = None
    description: LongText | None = None
    scoring_criteria: LongText | None = None
    benchmark_suite: ShortText | None = None
    benchmark_dataset_url: Url | None = None
    benchmark_dataset_sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] | None = (
        None
    )
    display_order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    is_active: bool | None = None


class CategorySummary(ResponseModel):
    id: int
    slug: str
    name: str
    description: str
    display_order: int
    is_active: bool
    entry_count: int


class CategoryPublic(ResponseModel):
    id: int
    slug: str
    name: str
    description: str
    scoring_criteria: str
    benchmark_suite: str | None
    benchmark_dataset_url: str | None = None
    benchmark_dataset_sha256: str | None = None
    display_order: int
    is_active: bool
    entry_count: int = 0
    created_at: Timestamp
    updated_at: Timestamp | None = None


class CategoryList(ResponseModel):
    items: list[CategorySummary]
    total: int


class CategoryQuery(RequestModel):
    active_only: bool = True


# --- agents -------------------------------------------------------------------------------
class AgentCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "My Custom Agent",
                    "organization": "My Company",
                    "description": "A specialized agent for code review",
                    "website_url": "https://mycompany.com",
                    "github_url": "https://github.com/mycompany/agent",
                }
            ]
        }
    }
    name: Name
    organization: ShortText | None = None
    description: LongText = ""
    avatar_url: Url | None = None
    website_url: Url | None = None
    github_url: Url | None = None


class AgentUpdate(RequestModel):
    name: Name | None = None
    organization: ShortText | None = None
    description: LongText | None = None
    avatar_url: Url | None = None
    website_url: Url | None = None
    github_url: Url | None = None


class BadgeType(StrEnum):
    OFFICIAL = "official"  # verified by the agent's organization
    COMMUNITY = "community"  # verified by community maintainers
    ATP = "atp"  # verified by the platform team


BADGE_LABELS = {
    BadgeType.OFFICIAL: "Official",
    BadgeType.COMMUNITY: "Community verified",
    BadgeType.ATP: "ATP verified",
}


class BadgeCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {"agent_id": 5, "badge_type": "official", "label": "Verified Official Agent"}
            ]
        }
    }
    agent_id: PublicId
    badge_type: Annotated[BadgeType, case_insensitive(BadgeType)]
    label: ShortText | None = None


class Badge(ResponseModel):
    type: BadgeType
    label: str
    issued_at: Timestamp


class CategoryResult(ResponseModel):
    category_slug: str
    category_name: str
    rank: int | None
    score: float | None
    total_runs: int


class AgentPublic(ResponseModel):
    id: int
    name: str
    slug: str
    organization: str | None
    description: str
    avatar_url: str | None
    website_url: str | None
    github_url: str | None
    is_verified: bool
    verification_badges: list[Badge]
    results_by_category: list[CategoryResult]
    created_at: Timestamp
    updated_at: Timestamp


class AgentListItem(ResponseModel):
    id: int
    name: str
    organization: str | None
    avatar_url: str | None
    is_verified: bool
    top_category: str | None
    top_rank: int | None


class AgentList(ResponseModel):
    items: list[AgentListItem]
    total: int
    limit: int
    offset: int


class AgentQuery(RequestModel):
    query: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Agents whose name starts with this (any case)"
    )
    organization: ShortText | None = Field(default=None, description="Exact, any case")
    verified_only: bool = False
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000)


# --- publishing ---------------------------------------------------------------------------
class PublishRequest(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "suite_execution_id": "run_0123456789abcdef0123",
                    "category_slug": "coding",
                    "agent_profile_id": 5,
                    "opt_in_public": True,
                    "notes": "Run with default configuration",
                }
            ]
        }
    }
    suite_execution_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The id of a completed run of the caller's workspace"
    )
    category_slug: Slug
    agent_profile_id: PublicId
    leaderboard_model_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = (
        Field(default=None, description="Whose result: required when the run ranked more models")
    )
    opt_in_public: bool = Field(default=True, description="Must be true: publishing is public")
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""

    @field_validator("suite_execution_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        # The spec's example sends an integer; run ids are text, so an integer is its digits.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class PublishResponse(ResponseModel):
    id: int
    agent_id: int
    category_slug: str
    score: float
    rank: int
    is_new_record: bool
    published_at: Timestamp


class ResultPublic(ResponseModel):
    """A published result, as its publisher and the verify endpoint see it."""

    id: int
    agent_id: int
    category_slug: str
    suite_execution_id: str
    leaderboard_model_id: str
    score: float
    score_std: float | None
    ci_low: float | None
    ci_high: float | None
    total_runs: int
    success_rate: float
    rank: int = Field(description="The rank it took when published")
    is_new_record: bool
    is_verified: bool
    verification_date: Timestamp | None = None
    notes: str
    published_at: Timestamp


class MyResults(ResponseModel):
    items: list[ResultPublic]
    total: int
    limit: int
    offset: int


class MyResultsQuery(RequestModel):
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000)


# --- boards and history -------------------------------------------------------------------
class BoardQuery(RequestModel):
    category: Slug
    verified_only: bool = False
    limit: int = Field(default=50, ge=1, le=100)


class BoardCategory(ResponseModel):
    slug: str
    name: str
    description: str


class BoardEntry(ResponseModel):
    rank: int
    agent_id: int
    agent_name: str
    agent_avatar_url: str | None = None
    organization: str | None = None
    score: float
    score_std: float | None
    ci_low: float | None = Field(description="95% confidence interval, percent")
    ci_high: float | None
    overlaps_above: bool = Field(
        description="Its interval overlaps the entry ranked just above: the order between "
        "the two may be noise"
    )
    total_runs: int
    success_rate: float
    is_verified: bool = Field(description="This result was verified (reproduced)")
    verification_date: Timestamp | None = None
    agent_badges: list[BadgeType] = Field(
        default_factory=list, description="The agent's verification badges"
    )
    result_id: int
    last_updated: Timestamp


class BoardPublic(ResponseModel):
    category: BoardCategory
    entries: list[BoardEntry]
    total_entries: int
    last_updated: Timestamp | None


class HistoryPoint(ResponseModel):
    date: str
    score: float
    rank: int


class Trend(ResponseModel):
    agent_id: int
    agent_name: str
    data_points: list[HistoryPoint]


class HistoryPublic(ResponseModel):
    category: str
    period_start: Timestamp
    period_end: Timestamp
    trends: list[Trend]


class HistoryQuery(RequestModel):
    agent_ids: list[PublicId] | None = Field(default=None, max_length=100)
    days: int = Field(default=30, ge=1, le=365)
    limit: int = Field(
        default=20, ge=1, le=100, description="Without agent_ids: the top agents of the board"
    )
