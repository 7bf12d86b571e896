"""Auto-select: choosing candidate models from OpenRouter's catalog (pure rules; the service
fetches the catalog and adds the candidates).

Filters apply only when their ``limit_*`` flag is on, in this order, each counting the models
it excluded:

1. ``not_text``: models that do not answer in text (image or audio output only).
2. ``already_on_leaderboard``: a candidate already calls this model id.
3. ``open_source``: ``only_open_source`` keeps models with open weights, which OpenRouter marks
   with a ``hugging_face_id``.
4. ``cost``: the catalog's prices are USD per token, as strings; compared per million tokens.
5. ``latency``: from each model's endpoints (providers), ``latency_last_30m`` in milliseconds to
   the first token, percentiles p50/p75/p90/p99. OpenRouter has no p95, so it is bounded from p90
   and p99: ``p90 + (p99 - p90) * 5/9``, the straight line between them at 95. Latency tails are
   right-skewed (convex between percentiles), so the real p95 is at or below this line and the
   filter errs towards excluding. A model passes when one of its endpoints meets every bound
   asked; a model whose endpoints report no latency is excluded (unknown is not fast). Only
   models that survived the cheaper filters are looked up, and only as far down the order as
   the picks need.

Order: models this workspace has already seen do well come first (their mean placing over its
recent completed runs, 1 for first place, 0 for last), then the catalog's signals: newer
``created`` first, then the longer context. Picks go round-robin over authors (the best model
of each author in turn), so five picks are not five sizes of one family.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from shared.domain.base import RequestModel, ResponseModel, RuleViolation

MAX_AUTO_SELECT = 25
# At most this many endpoint lookups per request: a bound on its time whatever the filters.
MAX_LATENCY_LOOKUPS = 60


class AutoSelectRequest(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "number_of_models": 5,
                    "limit_cost": True,
                    "input_price_per_m_tokens": 0.5,
                    "output_price_per_m_tokens": 1,
                    "limit_latency": True,
                    "latency_p95_seconds": 1,
                    "latency_p99_seconds": 3,
                    "only_open_source": False,
                }
            ]
        }
    }

    number_of_models: int = Field(default=5, ge=1, le=MAX_AUTO_SELECT)
    limit_cost: bool = False
    input_price_per_m_tokens: float | None = Field(default=None, ge=0, le=1_000_000)
    output_price_per_m_tokens: float | None = Field(default=None, ge=0, le=1_000_000)
    limit_latency: bool = False
    latency_p95_seconds: float | None = Field(default=None, gt=0, le=3600)
    latency_p99_seconds: float | None = Field(default=None, gt=0, le=3600)
    only_open_source: bool = False

    @model_validator(mode="after")
    def _bounds_with_flags(self) -> AutoSelectRequest:
        prices = (self.input_price_per_m_tokens, self.output_price_per_m_tokens)
        if self.limit_cost and all(p is None for p in prices):
            raise RuleViolation(
                "limit_cost",
                "needs input_price_per_m_tokens or output_price_per_m_tokens",
            )
        latencies = (self.latency_p95_seconds, self.latency_p99_seconds)
        if self.limit_latency and all(x is None for x in latencies):
            raise RuleViolation("limit_latency", "needs latency_p95_seconds or latency_p99_seconds")
        return self


class AutoSelected(ResponseModel):
    leaderboard_model_id: str
    model_url: str
    name: str
    reason: str = Field(description="Why it was chosen")
    input_price_per_m_tokens: float | None
    output_price_per_m_tokens: float | None
    latency_p95_seconds: float | None = Field(
        default=None, description="Estimated from p90 and p99 (see the README); when asked"
    )
    latency_p99_seconds: float | None = None


class AutoSelectResult(ResponseModel):
    added: list[AutoSelected]
    requested: int
    catalog_models: int = Field(description="Models in OpenRouter's catalog")
    excluded: dict[str, int] = Field(description="How many catalog models each filter excluded")
    latency_lookups: int = Field(description="Models whose endpoints were looked up")
    order: str = Field(description="How the remaining models were ranked")


@dataclass(frozen=True)
class CatalogModel:
    id: str
    name: str
    canonical_slug: str | None
    hugging_face_id: str | None
    created: int
    context_length: int
    price_in: float | None  # USD per million tokens
    price_out: float | None
    text_output: bool

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def family(self) -> str:
        """The model's line without its size, version or date: ``openai/gpt-4o-mini`` and
        ``openai/gpt-4o-2024-08-06`` share ``openai/gpt``. Used for "a newer sibling"."""
        slug = self.id.split("/", 1)[-1].split(":", 1)[0]
        head = re.split(r"[-_.]?\d", slug, maxsplit=1)[0]
        return f"{self.author}/{head or slug}"


def _price(raw: Any) -> float | None:
    """USD per token (a string) -> USD per million tokens; unknown or negative (OpenRouter's
    "-1" for variable pricing) is None."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value * 1_000_000 if math.isfinite(value) and value >= 0 else None


def parse_model(raw: dict[str, Any]) -> CatalogModel:
    """One entry of ``GET /models``; fields it lacks or mistypes read as unknown."""

    def obj(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    def number(value: Any) -> int:
        return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0

    outputs = obj(raw.get("architecture")).get("output_modalities")
    pricing = obj(raw.get("pricing"))
    return CatalogModel(
        id=str(raw["id"]),
        name=text(raw.get("name")) or str(raw["id"]),
        canonical_slug=text(raw.get("canonical_slug")),
        hugging_face_id=text(raw.get("hugging_face_id")),
        created=number(raw.get("created")),
        context_length=number(raw.get("context_length")),
        price_in=_price(pricing.get("prompt")),
        price_out=_price(pricing.get("completion")),
        text_output=not isinstance(outputs, list) or "text" in outputs,
    )


def p95_bound(p90: float, p99: float) -> float:
    return p90 + (p99 - p90) * 5 / 9


@dataclass(frozen=True)
class Latency:
    p95_seconds: float
    p99_seconds: float


def endpoint_latency(endpoint: dict[str, Any]) -> Latency | None:
    stats = endpoint.get("latency_last_30m")
    if not isinstance(stats, dict):
        return None
    p90, p99 = stats.get("p90"), stats.get("p99")
    if not isinstance(p90, int | float) or not isinstance(p99, int | float):
        return None
    return Latency(p95_bound(p90, max(p90, p99)) / 1000, max(p90, p99) / 1000)


def latency_ok(spec: AutoSelectRequest, endpoints: list[dict[str, Any]]) -> Latency | None:
    """The best endpoint meeting every latency bound asked, or None."""
    passing = []
    for e in endpoints:
        lat = endpoint_latency(e)
        if lat is None:
            continue
        if spec.latency_p95_seconds is not None and lat.p95_seconds > spec.latency_p95_seconds:
            continue
        if spec.latency_p99_seconds is not None and lat.p99_seconds > spec.latency_p99_seconds:
            continue
        passing.append(lat)
    return min(passing, key=lambda x: (x.p99_seconds, x.p95_seconds)) if passing else None


def cost_ok(spec: AutoSelectRequest, m: CatalogModel) -> bool:
    for limit, price in (
        (spec.input_price_per_m_tokens, m.price_in),
        (spec.output_price_per_m_tokens, m.price_out),
    ):
        if limit is not None and (price is None or price > limit + 1e-12):
            return False
    return True


@dataclass
class History:
    """How a model placed in this workspace's recent completed runs."""

    placings: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(self.placings) / len(self.placings)


def placing(rank: int, n_models: int) -> float:
    """1 for first place, 0 for last; 1 when alone."""
    return 1.0 if n_models <= 1 else 1.0 - (rank - 1) / (n_models - 1)


ORDER = (
    "this workspace's history first (mean placing over its recent completed runs, 1 = first), "
    "then newer catalog entries, then longer context; round-robin over authors"
)


def rank(models: list[CatalogModel], history: dict[str, History]) -> list[CatalogModel]:
    def key(m: CatalogModel) -> tuple[int, float, int, int, str]:
        h = history.get(m.id)
        return (0 if h else 1, -(h.score if h else 0.0), -m.created, -m.context_length, m.id)

    return sorted(models, key=key)


def round_robin(ranked: list[CatalogModel]) -> list[CatalogModel]:
    """The ranked list re-ordered so each author's best comes before anyone's second best."""
    seen: dict[str, int] = {}
    tiered: list[tuple[int, int, CatalogModel]] = []
    for position, m in enumerate(ranked):
        tier = seen.get(m.author, 0)
        seen[m.author] = tier + 1
        tiered.append((tier, position, m))
    return [m for _, _, m in sorted(tiered, key=lambda t: (t[0], t[1]))]


def reason_for(m: CatalogModel, history: dict[str, History], latency: Latency | None) -> str:
    h = history.get(m.id)
    parts = []
    if h:
        parts.append(
            f"placed {h.score:.2f} on average (1 = first) in {len(h.placings)} of this "
            "workspace's recent runs"
        )
    else:
        parts.append("no history in this workspace; among the newest in the catalog")
    if m.price_in is not None and m.price_out is not None:
        parts.append(f"${m.price_in:g}/${m.price_out:g} per M tokens in/out")
    if latency is not None:
        parts.append(f"p95 <= {latency.p95_seconds:.2f}s, p99 {latency.p99_seconds:.2f}s")
    if m.hugging_face_id:
        parts.append(f"open weights ({m.hugging_face_id})")
    return "; ".join(parts)


# --- the model_version trigger --------------------------------------------------------------
def identity(m: CatalogModel) -> dict[str, Any]:
    """What the model_version trigger compares: the dated snapshot behind the id (OpenRouter's
    ``canonical_slug``, which changes when an alias moves to a new snapshot) and ``created``."""
    return {"id": m.id, "canonical_slug": m.canonical_slug, "created": m.created}


def changed(recorded: dict[str, Any] | None, current: CatalogModel) -> bool:
    """Whether the snapshot behind a candidate moved since it was recorded; nothing recorded
    yet is not a change (the first check records it)."""
    if not recorded:
        return False
    return recorded.get("canonical_slug") != current.canonical_slug


def newer_siblings(
    candidates: list[dict[str, Any]], models: list[CatalogModel]
) -> list[dict[str, Any]]:
    """For each OpenRouter candidate, catalog models of its author and family added later,
    not on the leaderboard: suggestions, never added by themselves (newest first, at most 3
    per candidate)."""
    by_id = {m.id: m for m in models}
    on_board = {c.get("model_url") for c in candidates}
    found = []
    for c in candidates:
        mine = by_id.get(str(c.get("model_url")))
        if mine is None:
            continue
        later = sorted(
            (
                m
                for m in models
                if m.family == mine.family
                and m.created > mine.created
                and m.id not in on_board
                and m.text_output
            ),
            key=lambda m: -m.created,
        )
        for m in later[:3]:
            found.append(
                {
                    "leaderboard_model_id": c.get("id"),
                    "model_url": m.id,
                    "name": m.name,
                    "created": m.created,
                    "reason": f"newer than {mine.id} in the same family ({mine.family})",
                }
            )
    return found
