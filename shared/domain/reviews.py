"""Human review: blind review items, reviewers' scores, and what they add up to.

A review item is one model's answer to one sample, shown without anything that tells which
model wrote it (no model id, name or URL). Items are listed in an order shuffled per item: each
item's ``order_key`` is a hash of the run's recorded seed and the item's id, so the order is
reproducible from the seed and answers of one model do not come in a block.

Scores are 0 to 10 (the judge's scale); a sample's human score is the mean of its reviewers'
scores, divided by 10, so a human run finalizes exactly like a judged run. With several
reviewers per item, their agreement is Krippendorff's alpha at the interval level (the
``krippendorff`` package).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from krippendorff import alpha
from pydantic import Field

from shared.domain.base import RequestModel, ResponseModel, Timestamp
from shared.domain.intervals import wilson_interval
from shared.domain.paging import ListQuery

MAX_REVIEWS_PER_ITEM = 10
COMMENT_MAX_CHARS = 2000


class ReviewStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


class ReviewQuery(ListQuery):
    # A Literal rather than the enum: query parameters are inlined in the OpenAPI document.
    status: Literal["pending", "done"] = "pending"


class ReviewSubmit(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"examples": [{"score": 7, "comment": "Right, but verbose"}]}
    }

    score: float = Field(ge=0, le=10, description="0 (useless) to 10 (perfect)")
    comment: str | None = Field(default=None, max_length=COMMENT_MAX_CHARS)


class ReviewItemPublic(ResponseModel):
    """What a reviewer sees: the task and one answer, nothing about who wrote it."""

    id: str
    input: str
    output: str
    expected: str | None = None
    status: ReviewStatus
    reviews: int = Field(description="How many people reviewed it")
    reviews_needed: int
    your_score: float | None = Field(default=None, description="Your score, if you gave one")
    created_at: Timestamp


class ReviewAccepted(ResponseModel):
    id: str
    score: float
    status: ReviewStatus
    reviews: int
    reviews_needed: int
    replaced: bool = Field(description="You had reviewed it before: your score was replaced")


def item_id(run_id: str, model_id: str, index: int, *, audit: bool = False) -> str:
    """Deterministic (a duplicate task makes the same items) and opaque (the id says nothing
    about the model)."""
    raw = f"{'audit' if audit else 'review'}\x00{run_id}\x00{model_id}\x00{index}"
    return "rvi_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def review_seed(run_id: str) -> str:
    """The seed a run's listing order is shuffled with (recorded on the run)."""
    return hashlib.sha256(f"review-order\x00{run_id}".encode()).hexdigest()[:16]


def reviews_needed(run: dict[str, Any]) -> int:
    raw = (run.get("eval_metadata") or {}).get("reviews_per_item", 1)
    try:
        return max(1, min(MAX_REVIEWS_PER_ITEM, int(raw)))
    except (TypeError, ValueError):
        return 1


def order_key(seed: str, item: str) -> str:
    return hashlib.sha256(f"{seed}\x00{item}".encode()).hexdigest()[:16]


def audited(seed: str, model_id: str, index: int, rate: float) -> bool:
    """Whether a judged answer goes to people: a seeded draw, so duplicates agree."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{seed}\x00{model_id}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def human_score(reviews: dict[str, Any]) -> float | None:
    """A sample's score from its reviews: the mean, 0..10 scaled to 0..1."""
    scores = [float(r["score"]) for r in reviews.values()]
    return sum(scores) / len(scores) / 10 if scores else None


def reviewers_agreement(items: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Krippendorff's alpha (interval) over items with at least two reviews; None when fewer
    than two such items (alpha is undefined)."""
    rated = [it for it in items if len(it.get("reviews") or {}) >= 2]
    if len(rated) < 2:
        return None
    raters = sorted({r for it in rated for r in it["reviews"]})
    index = {r: i for i, r in enumerate(raters)}
    data = np.full((len(raters), len(rated)), np.nan)
    for j, it in enumerate(rated):
        for reviewer, review in it["reviews"].items():
            data[index[reviewer], j] = float(review["score"])
    values = data[~np.isnan(data)]
    if np.unique(values).size < 2:
        # Every score the same: no variation to disagree about; alpha is undefined.
        return {"method": "krippendorff_alpha_interval", "alpha": None,
                "items": len(rated), "reviewers": len(raters)}  # fmt: skip
    value = float(alpha(reliability_data=data, level_of_measurement="interval"))
    return {
        "method": "krippendorff_alpha_interval",
        "alpha": value if math.isfinite(value) else None,
        "items": len(rated),
        "reviewers": len(raters),
    }


def judge_agreement(pairs: Iterable[tuple[float, float]]) -> dict[str, Any]:
    """How the judge's scores (0..1) agree with people's (0..1) on audited answers: n, Pearson
    correlation with a 95% interval (Fisher's z, when n >= 4), mean absolute difference, and
    agreement on pass/fail at the midpoint (0.5 counts as a pass) with a Wilson interval."""
    pts = list(pairs)
    n = len(pts)
    report: dict[str, Any] = {"n": n, "correlation": None, "correlation_ci": None,
                              "mean_abs_diff": None, "pass_fail_agreement": None,
                              "pass_fail_ci": None}  # fmt: skip
    if n == 0:
        return report
    judge = [p[0] for p in pts]
    human = [p[1] for p in pts]
    report["mean_abs_diff"] = sum(abs(a - b) for a, b in pts) / n
    agree = sum(1 for a, b in pts if (a >= 0.5) == (b >= 0.5))
    report["pass_fail_agreement"] = agree / n
    low, high = wilson_interval(agree, n)
    report["pass_fail_ci"] = [low, high]
    if n >= 2:
        mj, mh = sum(judge) / n, sum(human) / n
        sj = math.sqrt(sum((x - mj) ** 2 for x in judge))
        sh = math.sqrt(sum((y - mh) ** 2 for y in human))
        if sj > 0 and sh > 0:
            r = sum((x - mj) * (y - mh) for x, y in pts) / (sj * sh)
            r = max(-1.0, min(1.0, r))
            report["correlation"] = r
            if n >= 4 and abs(r) < 1:
                z, se = math.atanh(r), 1 / math.sqrt(n - 3)
                report["correlation_ci"] = [math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)]
    return report
